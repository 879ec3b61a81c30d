"""compress, decompress, test, info, models, demo: the commands a user codes with."""
from __future__ import annotations

import json
import sys
from collections import Counter
import time

import click

from .. import api
from ..errors import BBCError
from .base import friendly_errors, main
from .progress import TileProgress

DEFAULTS = api.CodingOptions()


def level_help() -> str:
    """What each level spends, per family: particles/refinement steps."""
    spends = {name: ", ".join(f"{p}/{k}" for p, k in f.levels.values()) for name, f in api.FAMILIES.items()}
    return "Importance-sampled particles/per-image refinement steps of levels 1..9: " + "; ".join(
        f"{name} {spend}" for name, spend in spends.items()) + " (a model without a latent codes " \
        "the same at every level)."


def coding_options(function):
    options = [
        click.option("--encoder", help="Named encoder of the model (amortized, self-consistent, ...); "
                                       "default: the one its card recommends, else amortized."),
        click.option("--latents", default=DEFAULTS.latents, show_default=True,
                     type=click.Choice(["buckets", "grid"]),
                     help="Latent discretization: equal-mass buckets or a uniform grid."),
        click.option("--latent-bits", default=DEFAULTS.latent_bits, show_default=True,
                     type=click.IntRange(1, 10),
                     help="buckets: 2^N buckets per dim; grid: 2^N steps per unit of z."),
        click.option("--batch", "max_batch", default=None, type=click.IntRange(min=1),
                     help="Most images coded per batch (decoders take up to 1.5x the model's own)  [default: the model's: " + ", ".join(
                         f"{f.coding.max_batch} for {name}" for name, f in api.FAMILIES.items()) + "]"),
        click.option("--fallback/--no-fallback", default=DEFAULTS.fallback, show_default=True,
                     help="Store an image with a classic codec (raw, PNG, lossless WebP) when "
                          "that is smaller than the model's estimate."),
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


def echo_rates(rows: list[dict]) -> None:
    """One line per section; a model's chains (sections coded side by side) are numbered."""
    chains = Counter((row["kind"], row["model"]) for row in rows if row["model"] != "classic")
    seen: Counter = Counter()
    for row in rows:
        key = (row["kind"], row["model"])
        seen[key] += 1
        chain = f", chain {seen[key]}/{chains[key]}" if chains[key] > 1 else ""
        click.echo(f"  {row['kind']:9} {row['images']:6} image(s)  {row['bits_per_dim']:.4f} bits/dim "
                   f"({row['net_bits_per_dim']:.4f} net of {row['initial_bits']} initial bits)  "
                   f"model {row['model']} / {row['encoder']}{chain}")


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Archive to write (default: INPUT.bbc for a single input).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the archive to standard output.")
@click.option("-m", "--model", "model_args", multiple=True,
              help="Shipped model name or checkpoint path; once per image kind (binary, greyscale).")
@coding_options
@click.option("--embed-model", "embed", is_flag=True,
              help="Carry the weights of the models used, so the archive decodes without them.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing archive.")
@click.option("-q", "--quiet", is_flag=True)
@progress_option
@threads_option
@click.option("--json", "as_json", is_flag=True, help="Print sizes and bits/dim as JSON.")
@friendly_errors
def compress(inputs, output, to_stdout, model_args, encoder, latents, latent_bits, max_batch, fallback,
             level, embed, force, quiet, progress, threads, as_json):
    """Compress image files and folders (1-bit or 8-bit greyscale) into one .bbc archive."""
    if not inputs:
        raise BBCError("no input files given")
    if to_stdout and sys.stdout is None:  # started with stdout closed (>&-)
        raise BBCError("standard output is closed: cannot write the archive there")
    if to_stdout and sys.stdout.isatty():
        raise BBCError("refusing to write a binary archive to a terminal")
    if not output and not to_stdout:
        if len(inputs) != 1:
            raise BBCError("several inputs: name the archive with -o OUT.bbc")
        output = inputs[0].rstrip("/") + ".bbc"
    if output:
        api.check_writable(output, force)
        api.refuse_overwriting_inputs(output, inputs)
    started = time.monotonic()
    images = api.read_inputs(list(inputs))
    options = api.CodingOptions(encoder, latents, latent_bits, max_batch, level, fallback, embed,
                                threads or api.available_cores())
    with TileProgress(api.tile_total(images), "compress", quiet, progress) as bar:
        archive = api.compress_images(images, api.ModelSet(model_args), options, bar)
    if to_stdout:
        data = archive.to_bytes()
        sys.stdout.buffer.write(data)
        size = len(data)
    else:
        size = api.write_archive(output, archive, force)
    report = {"archive": output or "-", "bytes": size, "images": archive.image_count,
              "seconds": round(time.monotonic() - started, 3), "sections": api.archive_rates(archive),
              "embedded_models": {m.name: len(m.weights) for m in archive.models}}
    shipped = [m.name for m in archive.models if m.name in api.shipped_cards()]
    if shipped and not quiet:
        click.echo(f"bbcompress: warning: embedding the shipped model(s) {', '.join(shipped)} adds "
                   f"{sum(len(m.weights) for m in archive.models if m.name in shipped):,} bytes that "
                   f"any bbcompress could supply", err=True)
    if as_json:
        click.echo(json.dumps(report), err=to_stdout)
    elif not quiet:
        click.echo(f"{report['archive']}: {archive.image_count} image(s), {size} bytes", err=to_stdout)
        if not to_stdout:
            echo_rates(report["sections"])


def model_option(function):
    return click.option("-m", "--model", "model_args", multiple=True,
                        help="Model to decode with, if not the one the archive names.")(function)


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@click.option("-C", "-o", "--output-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to restore the images into.")
@model_option
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files.")
@click.option("-q", "--quiet", is_flag=True)
@progress_option
@threads_option
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def decompress(archive_path, output_dir, model_args, force, quiet, progress, threads, as_json):
    """Restore every image of ARCHIVE (- for stdin) with identical pixels, name and mode;
    names whose format is not lossless get .png appended."""
    archive = api.read_archive(archive_path)
    with TileProgress(api.archive_tiles(archive), "decompress", quiet, progress) as bar:
        targets = api.decompress_to(archive, output_dir, api.ModelSet(model_args), force, bar,
                                    threads or api.available_cores())
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "images": [str(t) for t in targets]}))
    elif not quiet:
        click.echo(f"{archive_path}: restored {len(targets)} image(s) into {output_dir}")


@main.command("test")
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@model_option
@click.option("-q", "--quiet", is_flag=True)
@progress_option
@threads_option
@click.option("--json", "as_json", is_flag=True)
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
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def info(archive_path, as_json):
    """List the contents of ARCHIVE (- for stdin) and its bits/dim (without decoding)."""
    archive = api.read_archive(archive_path)
    sections = api.archive_info(archive)
    embedded = [{"name": m.name, "bytes": len(m.weights)} for m in archive.models]
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "sections": sections, "embedded_models": embedded}))
        return
    click.echo(f"{archive_path}: {archive.image_count} image(s)")
    echo_rates(sections)
    for model in embedded:
        click.echo(f"  embedded model {shown(model['name'])}: {model['bytes']:,} bytes of weights")
    for row in sections:
        for f in row["files"]:
            restored = f"  (restored as {shown(f['restored_as'])})" if f["restored_as"] != f["name"] else ""
            click.echo(f"    {shown(f['name'])}  {f['width']}x{f['height']}  mode {f['mode']}{restored}")


@main.command("models")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def models_command(as_json):
    """List the shipped models (the default per image kind is marked *)."""
    cards = api.shipped_cards()
    if as_json:
        click.echo(json.dumps(cards))
        return
    if not cards:
        click.echo("no shipped models installed")
    for name, card in cards.items():
        click.echo(f"{'*' if name in api.DEFAULT_MODELS.values() else ' '} {name}: {card.get('data', '?')}, "
                   f"epoch {card.get('epoch', '?')}; {coders_of(card)}"
                   + ("; opt-in: codes only when named with --model" if card.get("opt_in") else ""))


def coders_of(card: dict) -> str:
    """A card's encoders and their test rates, as ``models`` lists them."""
    test = card.get("test", {})
    family = api.FAMILIES.get(card.get("config", {}).get("family", "mlp"))
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
@click.option("--json", "as_json", is_flag=True)
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
