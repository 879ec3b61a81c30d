"""compress, decompress, test, info, models, demo: the commands a user codes with."""
from __future__ import annotations

import json
import sys
from collections import Counter
import time

import click

from .. import api
from ..errors import BBCError
from .base import ResearchOption, UserFirstHelp, friendly_errors, main
from .progress import TileProgress

DEFAULTS = api.CodingOptions()


def level_help() -> str:
    """What each level spends, per family: particles/refinement steps."""
    spends = {name: ", ".join(f"{p}/{k}" for p, k in f.levels.values())
              for name, f in api.FAMILIES.items() if f.has_latent}
    return "Importance-sampled particles/per-image refinement steps of levels 1..9: " + "; ".join(
        f"{name} {spend}" for name, spend in spends.items()) + " (a model without a latent codes " \
        "the same at every level). From level " + str(api.OPT_IN_LEVEL) + " the opt-in models (slower, " \
        "smaller; `bbcompress models` lists them) are candidates too. The classic fallback's JPEG-XL " \
        "effort: " + api.jxl_effort_help() + " (on photos effort 9 is ~2% smaller than 7 for 4x its time; " \
        "for 1-bit images 10 where others take 9: pages over 2048 pixels a side 1.4x smaller than the " \
        "lower levels code them, as blocks, for ~13x the time)."


def coding_options(function):
    options = [
        click.option("--encoder", cls=ResearchOption,
                     help="Named encoder of the model (amortized, self-consistent, ...); "
                          "default: the one its card recommends, else amortized."),
        click.option("--latents", cls=ResearchOption, default=DEFAULTS.latents, show_default=True,
                     type=click.Choice(["buckets", "grid"]),
                     help="Latent discretization: equal-mass buckets or a uniform grid."),
        click.option("--latent-bits", cls=ResearchOption, default=DEFAULTS.latent_bits, show_default=True,
                     type=click.IntRange(1, 10),
                     help="buckets: 2^N buckets per dim; grid: 2^N steps per unit of z."),
        click.option("--batch", "max_batch", cls=ResearchOption, default=None, type=click.IntRange(min=1),
                     help="Most images coded per batch (decoders take up to 1.5x the model's own)  [default: the model's: " + ", ".join(
                         f"{f.coding.max_batch} for {name}" for name, f in api.FAMILIES.items()) + "]"),
        click.option("--fallback/--no-fallback", default=DEFAULTS.fallback, show_default=True,
                     help="Store an image with a classic codec (raw, PNG, lossless WebP, JPEG-XL) "
                          "when that is smaller than the model's estimate. Alpha and 16-bit images, "
                          "which no model codes, are stored that way either way, and so are colour "
                          "images unless a greyscale model that codes whole images is at hand."),
        click.option("-l", "--level", default=DEFAULTS.level, show_default=True, type=click.IntRange(1, 9),
                     help="1 fastest .. 9 smallest. " + level_help()),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def shown(name: str) -> str:
    """A name as printed: escaped if it holds anything a terminal would interpret."""
    return name if name.isprintable() else ascii(name)


def threads_option(function):
    return click.option("-T", "--threads", default=0, show_default=True, type=click.IntRange(min=0),
                        help="Processes coding chains side by side (0: one per core). Compressing, "
                             "the archive holds up to this many chains, so its bytes depend on it; "
                             "any number decodes any archive. Each runs one BLAS thread "
                             "(BBCOMPRESS_BLAS_THREADS=N in the environment for N).")(function)


def progress_option(function):
    return click.option("--progress/--no-progress", default=None,
                        help="Show a progress bar (default: on a terminal, unless -q).")(function)


def run_options(function):
    """-q, --progress and -T: how a command that codes runs and what it shows."""
    function = progress_option(threads_option(function))
    return click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")(function)


def json_option(what: str):
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def embedded_rows(archive) -> list[dict]:
    """The models an archive carries, as compress and info report them."""
    return [{"name": m.name, "bytes": len(m.weights)} for m in archive.models]


def refuse_unfit_stdout(what: str) -> None:
    """Binary data goes to standard output only where that is open and not a terminal."""
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise BBCError(f"standard output is closed: cannot write {what} there")
    if sys.stdout.isatty():
        raise BBCError(f"refusing to write {what} to a terminal")


def archive_target(inputs: tuple[str, ...], output: str | None, to_stdout: bool, force: bool) -> str | None:
    """Where compress writes: a path checked before any coding, or None for stdout."""
    if not inputs:
        raise BBCError("no input files given")
    if output and to_stdout:
        raise BBCError("-o names a file and -c writes to standard output: choose one")
    if to_stdout:
        refuse_unfit_stdout("a binary archive")
        return None
    if not output:
        if api.STDIN in inputs:  # no input name to derive "-.bbc" from
            raise BBCError("an image from standard input (-): name the archive with -o OUT.bbc "
                           "or write it to standard output with -c")
        if len(inputs) != 1:
            raise BBCError("several inputs: name the archive with -o OUT.bbc")
        output = inputs[0].rstrip("/") + ".bbc"
    api.check_writable(output, force)
    api.refuse_overwriting_inputs(output, inputs)
    return output


def echo_summary(name: str, archive, size: int, err: bool = False) -> None:
    """The line a user reads first: the archive's images, bytes and its rate as a file."""
    click.echo(f"{name}: {archive.image_count} image(s), {size:,} bytes, "
               f"{api.file_bits_per_dim(archive, size):.4f} bits/dim", err=err)


def echo_rates(rows: list[dict]) -> None:
    """One line per section, its payload's rate (without the header, which the file's rate
    counts); a model's chains (sections coded side by side) are numbered."""
    chains = Counter((row["kind"], row["model"], row["tile_side"]) for row in rows if row["model"] != "classic")
    seen: Counter = Counter()
    for row in rows:
        key = (row["kind"], row["model"], row["tile_side"])
        seen[key] += 1
        chain = f", chain {seen[key]}/{chains[key]}" if chains[key] > 1 else ""
        tiles = f", in {row['tile_side']}x{row['tile_side']} tiles" if (row["tile_side"] or 28) > 28 else ""
        tiles += f", {row['streams']} streams" if row["streams"] > 1 else ""
        click.echo(f"  {row['kind']:10} {row['images']:6} image(s)  payload {row['bits_per_dim']:.4f} bits/dim "
                   f"({row['net_bits_per_dim']:.4f} net of {row['initial_bits']} initial bits)  "
                   f"model {row['model']} / {row['encoder']}{tiles}{chain}")


@main.command(cls=UserFirstHelp)
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Archive to write (default: INPUT.bbc for a single input).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the archive to standard output.")
@click.option("-m", "--model", "model_args", multiple=True,
              help="Shipped model name or checkpoint path; once per image kind (binary, greyscale).")
@coding_options
@click.option("--embed-model", "embed", is_flag=True,
              help="Carry the weights of the models used, so the archive decodes without them.")
@click.option("--skip-unsupported", is_flag=True,
              help="Leave out input files that cannot be read or coded (colour, 16-bit, not an image, "
                   "...) instead of failing; each is named, with why, on stderr and in --json. The "
                   "exit status stays 0.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing archive.")
@run_options
@json_option("sizes, bits/dim and skipped files")
@friendly_errors
def compress(inputs, output, to_stdout, model_args, encoder, latents, latent_bits, max_batch, fallback,
             level, embed, skip_unsupported, force, quiet, progress, threads, as_json):
    """Compress image files and folders (1-bit, greyscale, colour, 16-bit) into one .bbc archive.

    An INPUT of - reads one image from standard input and stores it as stdin.png; name the
    archive with -o or write it to standard output with -c."""
    output = archive_target(inputs, output, to_stdout, force)
    started = time.monotonic()
    images, skipped = api.scan_inputs(list(inputs), skip_unsupported)
    options = api.CodingOptions(encoder, latents, latent_bits, max_batch, level, fallback, embed,
                                threads or api.available_cores())
    with TileProgress(api.tile_total(images), "compress", quiet, progress) as bar:
        archive = api.compress_images(images, api.ModelSet(model_args), options, bar)
    size = write_archive(archive, output, force)
    report = {"archive": output or "-", "bytes": size, "images": archive.image_count,
              "bits_per_dim": api.file_bits_per_dim(archive, size),
              "seconds": round(time.monotonic() - started, 3), "sections": api.archive_rates(archive),
              "embedded_models": embedded_rows(archive),
              "skipped": [{"path": s.path, "reason": s.reason} for s in skipped]}
    warn_of_shipped_embedded(archive, quiet)
    warn_of_skipped(skipped, quiet)
    note_conversions(images, quiet)
    if as_json:
        click.echo(json.dumps(report), err=output is None)
    elif not quiet:
        echo_summary(report["archive"], archive, size, err=output is None)
        if output is not None:
            echo_rates(report["sections"])


def write_archive(archive, output: str | None, force: bool) -> int:
    """To the file ``output`` or, where None, to standard output; returns its size."""
    if output is not None:
        return api.write_archive(output, archive, force)
    data = archive.to_bytes()
    sys.stdout.buffer.write(data)
    return len(data)


def warn_of_skipped(skipped: list, quiet: bool) -> None:
    if skipped and not quiet:
        click.echo(f"bbcompress: warning: skipped {len(skipped)} unsupported file(s):", err=True)
        for s in skipped:
            click.echo(f"  {shown(s.path)}: {s.reason}", err=True)


def note_conversions(images: list, quiet: bool) -> None:
    """Say which images are restored in another mode than their file's (palette images)."""
    noted = [image for image in images if image.note]
    for image in noted[:5] if not quiet else []:
        click.echo(f"bbcompress: note: {image.name}: {image.note}", err=True)
    if len(noted) > 5 and not quiet:
        click.echo(f"bbcompress: note: and {len(noted) - 5} more palette image(s) likewise", err=True)


def warn_of_shipped_embedded(archive, quiet: bool) -> None:
    shipped = [m.name for m in archive.models if m.name in api.shipped_cards()]
    if shipped and not quiet:
        click.echo(f"bbcompress: warning: embedding the shipped model(s) {', '.join(shipped)} adds "
                   f"{sum(len(m.weights) for m in archive.models if m.name in shipped):,} bytes that "
                   f"any bbcompress could supply", err=True)


def model_option(function):
    return click.option("-m", "--model", "model_args", multiple=True,
                        help="Model to decode with, if not the one the archive names.")(function)


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@click.option("-C", "-o", "--output-dir", type=click.Path(file_okay=False),
              help="Folder to restore the images into  [default: the current one]")
@click.option("-c", "--stdout", "to_stdout", is_flag=True,
              help="Write the archive's one image to standard output as PNG (an archive of several "
                   "images is refused: restore those with -o).")
@model_option
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files.")
@run_options
@json_option("the archive and the files written")
@friendly_errors
def decompress(archive_path, output_dir, to_stdout, model_args, force, quiet, progress, threads, as_json):
    """Restore every image of ARCHIVE (- for stdin) with identical pixels, name and mode;
    names whose format is not lossless get .png appended. With -c, write its one image to
    standard output as PNG."""
    if output_dir and to_stdout:
        raise BBCError("-o names a folder and -c writes to standard output: choose one")
    if to_stdout:
        refuse_unfit_stdout("an image")
    archive = api.read_archive(archive_path)
    models = api.ModelSet(model_args)
    with TileProgress(api.archive_tiles(archive), "decompress", quiet, progress) as bar:
        if to_stdout:
            sys.stdout.buffer.write(api.decompress_png(archive, models, bar))
            written, where = ["-"], "to standard output"
        else:
            output_dir = output_dir or "."
            targets = api.decompress_to(archive, output_dir, models, force, bar, threads or api.available_cores())
            written, where = [str(t) for t in targets], f"into {output_dir}"
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "images": written}), err=to_stdout)
    elif not quiet:
        click.echo(f"{archive_path}: restored {len(written)} image(s) {where}", err=to_stdout)


@main.command("test")
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@model_option
@run_options
@json_option("the archive, its image count and the verdict")
@friendly_errors
def test_command(archive_path, model_args, quiet, progress, threads, as_json):
    """Decode ARCHIVE (- for stdin) and verify its checksums; write nothing."""
    archive = api.read_archive(archive_path)
    with TileProgress(api.archive_tiles(archive), "test", quiet, progress) as bar:
        images = api.decompress_archive(archive, api.ModelSet(model_args), bar, threads or api.available_cores())
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "images": len(images), "ok": True}))
    elif not quiet:
        click.echo(f"{archive_path}: OK ({len(images)} image(s) decoded and verified)")


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@click.option("-v", "--files", "list_files", is_flag=True,
              help="List every file too: name, size, mode, and the name it is restored as.")
@json_option("sections, bits/dim, files and embedded models")
@friendly_errors
def info(archive_path, list_files, as_json):
    """Summarize ARCHIVE (- for stdin): images, size, bits/dim, sections and models, without
    decoding; with --files, list its files too."""
    archive = api.read_archive(archive_path)
    sections = api.archive_info(archive)
    embedded = embedded_rows(archive)
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "bytes": archive.stored_bytes,
                               "images": archive.image_count,
                               "bits_per_dim": api.file_bits_per_dim(archive, archive.stored_bytes),
                               "sections": sections, "embedded_models": embedded}))
        return
    echo_summary(archive_path, archive, archive.stored_bytes)
    echo_rates(sections)
    for model in embedded:
        click.echo(f"  embedded model {shown(model['name'])}: {model['bytes']:,} bytes of weights")
    if list_files:
        echo_files(sections)


def echo_files(sections: list[dict]) -> None:
    for row in sections:
        for f in row["files"]:
            restored = f"  (restored as {shown(f['restored_as'])})" if f["restored_as"] != f["name"] else ""
            planes = f"  planes {f['planes']}" if "planes" in f else ""
            click.echo(f"    {shown(f['name'])}  {f['width']}x{f['height']}  mode {f['mode']}{planes}{restored}")


@main.command("models")
@json_option("every shipped model's card, by name")
@friendly_errors
def models_command(as_json):
    """List the shipped models (the default per image kind is marked *)."""
    cards = api.shipped_cards()
    if as_json:
        click.echo(json.dumps(cards))
        return
    if not cards:
        click.echo("no shipped models installed")
    beaten = api.never_estimated(cards)
    for name, card in cards.items():
        opt_in = "; opt-in" if card.get("opt_in") else ""
        if opt_in and name not in beaten:
            opt_in += f": a candidate from level {api.OPT_IN_LEVEL}, or when named with --model"
        click.echo(f"{'*' if name in api.DEFAULT_MODELS.values() else ' '} {name}: {card.get('data', '?')}, "
                   f"epoch {card.get('epoch', '?')}; {coders_of(card)}{opt_in}"
                   + (f"; not estimated ({beaten[name]} is better on the same data): decodes its archives,"
                      f" or codes when named with --model" if name in beaten else ""))


def coders_of(card: dict) -> str:
    """A card's encoders and their test rates, as ``models`` lists them."""
    test = card.get("test", {})
    family = api.FAMILIES.get(card.get("config", {}).get("family", api.DEFAULT_FAMILY))
    if family and not family.has_latent:
        rate = test.get("none", {}).get("realized_bits_per_dim")
        return f"{family.name} family, no latent" + (f" ({rate:.4f} bits/dim on test)" if rate else "")
    default = api.recommended_encoder(card, card.get("encoders", {}))
    return "encoders: " + ", ".join(
        (f"{enc} ({test[enc]['realized_bits_per_dim']:.4f} bits/dim on test)" if enc in test else enc)
        + (" [default]" if enc == default else "") for enc in card.get("encoders", {}))


@main.command()
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--encoder", help="Encoder of the shipped models (default: the one each card recommends).")
@json_option("one row per image kind: sizes and bits/dim, bbcompress beside PNG")
@friendly_errors
def demo(folder, encoder, as_json):
    """Compress, decompress and verify the shipped sample digits (or FOLDER), beside PNG."""
    from pathlib import Path

    from ..demo import run_demo, samples_folder

    rows = run_demo(Path(folder) if folder else None, encoder)
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(f"images from {folder or samples_folder()}: compressed, decompressed, every pixel verified")
    click.echo(f"{'kind':10} {'images':>6} {'bbcompress':>22} {'PNG (optimized)':>24}")
    for r in rows:
        click.echo(f"{r['kind']:10} {r['images']:6} {r['bbcompress_bits'] // 8:8,} B {r['bbcompress_bpd']:.3f} "
                   f"bits/dim {r['png_bits'] // 8:8,} B {r['png_bpd']:.3f} bits/dim")
    net = ", ".join(f"{r['kind']} {r['net_bpd']:.3f}" for r in rows)
    click.echo(f"(bbcompress sizes include each archive's one-time initial bits; net of them: "
               f"{net} bits/dim)")
