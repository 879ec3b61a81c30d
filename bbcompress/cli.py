"""The `bbcompress` command line: parse arguments, call the library, map errors."""
from __future__ import annotations

import functools
import json
import sys
import time

import click

from .errors import BBCError


def friendly_errors(command):
    """Our errors become one line on stderr and exit status 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BBCError as e:
            click.echo(f"bbcompress: error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("bbcompress: interrupted", err=True)
            sys.exit(130)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bbcompress")
def main():
    """Lossless image compression by bits-back ANS over a variational auto-encoder."""


def dataset_option(function):
    function = click.option("--data-root", type=click.Path(file_okay=False),
                            help="Folder of fashion-mnist IDX files or the torchvision MNIST root.")(function)
    return function


@main.command()
@click.option("--data", "data_name", default="mnist10k-binary", show_default=True,
              help="Dataset: mnist10k, fashion-mnist, mnist, each optionally -binary.")
@dataset_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder for checkpoints (must be empty unless --resume).")
@click.option("--epochs", default=1000, show_default=True)
@click.option("--checkpoint-every", default=100, show_default=True)
@click.option("--batch-size", default=100, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--hidden", default="500,500", show_default=True, help="Hidden layer widths.")
@click.option("--latent", default=10, show_default=True)
@click.option("--pixel-floor", default=0.0, show_default=True,
              help="Greyscale: weight of a uniform component in each pixel's law (bounds the "
                   "cost of any pixel; 0 is the seed's discretized logistic).")
@click.option("--activation", default="relu", show_default=True,
              type=click.Choice(["relu", "tanh", "softplus"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--validation", default=0, show_default=True,
              help="Hold out the last N training images; checkpoints report their -ELBO.")
@click.option("--dynamic-binarization", is_flag=True,
              help="Binary sets: re-binarize the greyscale training images every epoch.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train(data_name, data_root, out_dir, epochs, checkpoint_every, batch_size, lr, hidden,
          latent, pixel_floor, activation, seed, validation, dynamic_binarization, resume, quiet):
    """Train a VAE (encoder and decoder jointly) and write checkpoints to OUT."""
    from .data import load_dataset
    from .model import VAEConfig
    from .progress import TrainProgress
    from .train import TrainConfig, train as run_training

    dataset = load_dataset(data_name, data_root)
    widths = tuple(int(w) for w in hidden.split(",") if w)
    try:
        vae_config = VAEConfig(dataset.likelihood, dataset.x_train[0].size, widths, latent, activation,
                               pixel_floor)
    except ValueError as e:
        raise BBCError(str(e)) from None
    config = TrainConfig(data_name, epochs, checkpoint_every, batch_size, lr, seed, validation,
                         dynamic_binarization)
    with TrainProgress(epochs, quiet) as progress:
        run_training(vae_config, config, dataset, out_dir, resume, progress.update)


@main.command("eval")
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "data_name", help="Dataset (default: the one the checkpoint was trained on).")
@dataset_option
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--encoder", default="amortized", show_default=True)
@click.option("--samples", default=1, show_default=True, help="z samples per image for the ELBO.")
@click.option("--iwae", "iwae_samples", default=1000, show_default=True,
              help="K of the IWAE bound (0 to skip).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@friendly_errors
def eval_command(checkpoint, data_name, data_root, split, encoder, samples, iwae_samples, as_json):
    """Print the BPD of CHECKPOINT on a dataset split: -ELBO and -IWAE-K."""
    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .evaluate import elbo_bpd, iwae_bpd

    ckpt = load_checkpoint(checkpoint)
    dataset = load_dataset(data_name or ckpt.info.get("data", ""), data_root)
    if dataset.likelihood != ckpt.config.likelihood:
        raise BBCError(f"{dataset.name} needs a {dataset.likelihood} model; "
                       f"this checkpoint is {ckpt.config.likelihood}")
    vae = ckpt.vae(encoder).eval()
    images = dataset.split(split)
    result = {"checkpoint": str(checkpoint), "data": dataset.name, "split": split,
              "images": len(images), "encoder": encoder,
              "elbo_bpd": elbo_bpd(vae, images, samples), "elbo_samples": samples}
    if iwae_samples:
        result.update(iwae_bpd=iwae_bpd(vae, images, iwae_samples), iwae_samples=iwae_samples)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{dataset.name} {split} ({len(images)} images), encoder {encoder}:")
    click.echo(f"  -ELBO   {result['elbo_bpd']:.4f} bits/dim ({samples} z sample(s) per image)")
    if iwae_samples:
        click.echo(f"  -IWAE-{iwae_samples} {result['iwae_bpd']:.4f} bits/dim")


def coding_options(function):
    options = [
        click.option("--encoder", help="Named encoder of the model (amortized, self-consistent, ...); "
                                       "default: the one its card recommends, else amortized."),
        click.option("--latents", default="buckets", show_default=True,
                     type=click.Choice(["buckets", "grid"]),
                     help="Latent discretization: equal-mass buckets or a uniform grid."),
        click.option("--latent-bits", default=8, show_default=True,
                     help="buckets: 2^N buckets per dim; grid: 2^N steps per unit of z."),
        click.option("--batch", "max_batch", default=100, show_default=True, type=click.IntRange(min=1),
                     help="Most images coded per batch."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def rates_json(archive) -> list[dict]:
    from .compression import section_rate

    rows = []
    for section in archive.sections:
        rate = section_rate(section)
        rows.append({"kind": rate.kind, "model": section.model["name"],
                     "encoder": section.model["encoder"], "images": rate.images,
                     "pixels": rate.pixels, "bits": rate.total_bits,
                     "initial_bits": rate.initial_bits, "bits_per_dim": rate.bits_per_dim,
                     "net_bits_per_dim": rate.net_bits_per_dim})
    return rows


def echo_rates(rows: list[dict]) -> None:
    for row in rows:
        click.echo(f"  {row['kind']:9} {row['images']:6} image(s)  {row['bits_per_dim']:.4f} bits/dim "
                   f"({row['net_bits_per_dim']:.4f} net of {row['initial_bits']} initial bits)  "
                   f"model {row['model']} / {row['encoder']}")


def pick_models(images, model_args):
    """kind -> (name, checkpoint): --model choices by kind, else the shipped default."""
    from .registry import default_model, kind_of, resolve_model

    chosen = {}
    for name in model_args:
        checkpoint = resolve_model(name)
        chosen[kind_of(checkpoint)] = (name, checkpoint)
    for kind in {image.kind for image in images} - set(chosen):
        name = default_model(kind)
        chosen[kind] = (name, resolve_model(name))
    return chosen


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Archive to write (default: INPUT.bbc for a single input).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the archive to standard output.")
@click.option("-m", "--model", "model_args", multiple=True,
              help="Shipped model name or checkpoint path; once per image kind (binary, greyscale).")
@coding_options
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing archive.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print sizes and bits/dim as JSON.")
@friendly_errors
def compress(inputs, output, to_stdout, model_args, encoder, latents, latent_bits, max_batch,
             force, quiet, as_json):
    """Compress image files and folders (1-bit or 8-bit greyscale) into one .bbc archive."""
    from .archive import write_archive
    from .compression import CodingOptions, compress_images
    from .images import tile_count
    from .inputs import read_inputs
    from .progress import TileProgress

    if not inputs:
        raise BBCError("no input files given")
    if to_stdout and sys.stdout.isatty():
        raise BBCError("refusing to write a binary archive to a terminal")
    if not output and not to_stdout:
        if len(inputs) != 1:
            raise BBCError("several inputs: name the archive with -o OUT.bbc")
        output = inputs[0].rstrip("/") + ".bbc"
    started = time.monotonic()
    images = read_inputs(list(inputs))
    models = pick_models(images, model_args)
    options = CodingOptions(encoder, latents, latent_bits, max_batch)
    total = sum(tile_count(*image.pixels.shape) for image in images)
    with TileProgress(total, "compress", quiet) as progress:
        archive = compress_images(images, models, options, progress)
    if to_stdout:
        data = archive.to_bytes()
        sys.stdout.buffer.write(data)
        size = len(data)
    else:
        size = write_archive(output, archive, force)
    report = {"archive": output or "-", "bytes": size, "images": archive.image_count,
              "seconds": round(time.monotonic() - started, 3), "sections": rates_json(archive)}
    if as_json:
        click.echo(json.dumps(report), err=to_stdout)
    elif not quiet:
        click.echo(f"{report['archive']}: {archive.image_count} image(s), {size} bytes", err=to_stdout)
        if not to_stdout:
            echo_rates(report["sections"])


def decode_archive(path, model_args, quiet):
    """Read, verify and decode an archive fully in memory."""
    from .archive import read_archive
    from .compression import decompress_archive
    from .progress import TileProgress
    from .images import tile_count
    from .registry import kind_of, resolve_model

    archive = read_archive(path)
    offered = {}
    for name in model_args:
        checkpoint = resolve_model(name)
        offered[kind_of(checkpoint)] = checkpoint

    def resolve(section):
        return offered.get(section.kind) or resolve_model(section.model["name"])

    total = sum(tile_count(e.height, e.width) for s in archive.sections for e in s.images)
    with TileProgress(total, "decompress", quiet) as progress:
        return archive, decompress_archive(archive, resolve, progress)


def model_option(function):
    return click.option("-m", "--model", "model_args", multiple=True,
                        help="Model to decode with, if not the one the archive names.")(function)


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@click.option("-o", "--output-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to restore the images into.")
@model_option
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def decompress(archive_path, output_dir, model_args, force, quiet, as_json):
    """Restore every image of ARCHIVE with identical pixels, name and mode."""
    from pathlib import Path

    from .images import restored, write_image
    from .inputs import output_path

    _, images = decode_archive(archive_path, model_args, quiet)
    folder = Path(output_dir)
    targets = [output_path(folder, image.name) for image in images]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise BBCError(f"{existing[0]} already exists (use -f to overwrite)"
                       + (f"; and {len(existing) - 1} more" if len(existing) > 1 else ""))
    for image, target in zip(images, targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(restored(image), target)
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "images": [str(t) for t in targets]}))
    elif not quiet:
        click.echo(f"{archive_path}: restored {len(images)} image(s) into {folder}")


@main.command("test")
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@model_option
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def test_command(archive_path, model_args, quiet):
    """Decode ARCHIVE and verify its checksums; write nothing."""
    archive, images = decode_archive(archive_path, model_args, quiet)
    if not quiet:
        click.echo(f"{archive_path}: OK ({len(images)} image(s) decoded and verified)")


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def info(archive_path, as_json):
    """List the contents of ARCHIVE and its bits/dim (without decoding)."""
    from .archive import read_archive

    archive = read_archive(archive_path)
    sections = rates_json(archive)
    for row, section in zip(sections, archive.sections):
        row["files"] = [{"name": e.name, "width": e.width, "height": e.height, "mode": e.mode}
                        for e in section.images]
    if as_json:
        click.echo(json.dumps({"archive": archive_path, "sections": sections}))
        return
    click.echo(f"{archive_path}: {archive.image_count} image(s)")
    echo_rates(sections)
    for row in sections:
        for f in row["files"]:
            click.echo(f"    {f['name']}  {f['width']}x{f['height']}  mode {f['mode']}")


@main.command("models")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def models_command(as_json):
    """List the shipped models (the default per image kind is marked *)."""
    from .checkpoint import recommended_encoder
    from .registry import DEFAULT_MODELS, shipped_cards

    cards = shipped_cards()
    if as_json:
        click.echo(json.dumps(cards))
        return
    if not cards:
        click.echo("no shipped models installed")
    for name, card in cards.items():
        mark = "*" if name in DEFAULT_MODELS.values() else " "
        test = card.get("test", {})
        default = recommended_encoder(card, card.get("encoders", {}))
        encoders = ", ".join(
            (f"{enc} ({test[enc]['realized_bits_per_dim']:.4f} bits/dim on test)" if enc in test else enc)
            + (" [default]" if enc == default else "") for enc in card.get("encoders", {}))
        click.echo(f"{mark} {name}: {card.get('data', '?')}, epoch {card.get('epoch', '?')}; "
                   f"encoders: {encoders}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--method", required=True, type=click.Choice(["self-consistent", "optimal"]))
@click.option("--alpha", default=0.5, show_default=True, help="Fraction of model samples per minibatch.")
@click.option("--model-samples", default="prior", show_default=True, type=click.Choice(["prior", "posterior"]),
              help="z for model samples: from N(0,I) (paper) or from q(z|x_train) (authors' code).")
@click.option("--epochs", default=100, show_default=True)
@click.option("--data", "data_name", help="Dataset (default: the checkpoint's training data).")
@dataset_option
@click.option("--split", type=click.Choice(["train", "test"]),
              help="Images to fit: self-consistent uses train; optimal defaults to test.")
@click.option("--name", help="Encoder name (default: self-consistent[-posterior] or optimal-SPLIT).")
@click.option("-o", "--out", help="Checkpoint to write (default: add the encoder to CHECKPOINT).")
@click.option("--curve-every", default=0, help="Record test -ELBO every N epochs (0: never).")
@click.option("--batch-size", default=100, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("-f", "--force", is_flag=True, help="Replace an encoder of the same name.")
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def refine(checkpoint, method, alpha, model_samples, epochs, data_name, data_root, split, name, out,
           curve_every, batch_size, lr, seed, force, quiet):
    """Re-train the encoder of CHECKPOINT with its decoder frozen, and store it by name."""
    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .progress import TrainProgress
    from .refine import RefineConfig, default_encoder_name, refine_encoder

    ckpt = load_checkpoint(checkpoint)
    split = split or ("test" if method == "optimal" else "train")
    if method == "self-consistent" and split != "train":
        raise BBCError("the self-consistent encoder is fitted on training images only (--split train)")
    dataset = load_dataset(data_name or ckpt.info.get("data", ""), data_root)
    config = RefineConfig(method, dataset.name, split, epochs, alpha, model_samples, batch_size, lr, seed)
    name = name or default_encoder_name(config)
    if name in ckpt.encoders and not force:
        raise BBCError(f"the checkpoint already has an encoder {name!r} (use -f to replace it)")
    with TrainProgress(epochs, quiet) as progress:
        encoder, made = refine_encoder(ckpt, dataset.split(split), config,
                                       dataset.x_test, curve_every, progress.update)
    if curve_every:
        made["curve_on"] = "test"
    ckpt.add_encoder(name, encoder, made, ckpt.decoder_sha256)
    written = ckpt.save(out or checkpoint)
    if not quiet:
        click.echo(f"encoder {name!r} written to {written}")


@main.command()
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--encoder", help="Encoder of the shipped models (default: the one each card recommends).")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def demo(folder, encoder, as_json):
    """Compress, decompress and verify the shipped sample digits (or FOLDER), beside PNG."""
    from pathlib import Path

    from .demo import run_demo, samples_folder

    rows = run_demo(Path(folder) if folder else None, encoder)
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(f"images from {folder or samples_folder()}: compressed, decompressed, every pixel verified")
    click.echo(f"{'kind':10} {'images':>6} {'bbcompress':>22} {'PNG (optimized)':>24}")
    for r in rows:
        click.echo(f"{r['kind']:10} {r['images']:6} {r['bbcompress_bits'] // 8:8,} B {r['bbcompress_bpd']:.3f} bits/dim "
                   f"{r['png_bits'] // 8:8,} B {r['png_bpd']:.3f} bits/dim")
    net = ", ".join(f"{r['kind']} {r['net_bpd']:.3f}" for r in rows)
    click.echo(f"(bbcompress sizes include each archive's one-time initial bits; net of them: "
               f"{net} bits/dim)")
