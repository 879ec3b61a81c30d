"""train, eval, refine: the research commands (they import torch when they run)."""
from __future__ import annotations

import json

import click

from ..errors import BBCError
from ..model.config import FAMILIES, VAEConfig
from ..training.config import MODEL_SAMPLES, RefineConfig, TrainConfig
from . import friendly_errors, main
from .progress import TrainProgress

VAE_DEFAULTS, TRAIN_DEFAULTS = VAEConfig("bernoulli"), TrainConfig("")
REFINE_DEFAULTS = RefineConfig("optimal", "")
LOCAL_HIDDEN = (64, 64)
CONV_LATENT = 32


def dataset_option(function):
    return click.option("--data-root", type=click.Path(file_okay=False),
                        help="Folder of fashion-mnist IDX files or the torchvision MNIST root.")(function)


@main.command()
@click.option("--data", "data_name", default="mnist10k-binary", show_default=True,
              help="Dataset: mnist10k, fashion-mnist, mnist, each optionally -binary; or a folder "
                   "of your images (any sizes: cut into 28x28 tiles, a tenth held out as test).")
@dataset_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder for checkpoints (must be empty unless --resume).")
@click.option("--epochs", default=TRAIN_DEFAULTS.epochs, show_default=True)
@click.option("--checkpoint-every", default=TRAIN_DEFAULTS.checkpoint_every, show_default=True)
@click.option("--batch-size", default=TRAIN_DEFAULTS.batch_size, show_default=True)
@click.option("--lr", default=TRAIN_DEFAULTS.lr, show_default=True)
@click.option("--family", type=click.Choice(FAMILIES), default="mlp", show_default=True,
              help="mlp: the seed's VAE; local: a causal local head (PixelCNN-like, no latent); "
                   "conv: a convolutional VAE, with the local head when --hidden is not 0.")
@click.option("--hidden", help="Hidden layer widths (ReLU)  [default: "
              f"{','.join(map(str, VAE_DEFAULTS.hidden))}; local and conv: the head's "
              f"{','.join(map(str, LOCAL_HIDDEN))}; conv --hidden 0: no head]")
@click.option("--latent", type=int, help=f"Latent dims (mlp, conv)  [default: {VAE_DEFAULTS.latent}; "
              f"conv: {CONV_LATENT}]")
@click.option("--mixture", default=5, show_default=True, help="local, conv: logistics per pixel.")
@click.option("--features", default=16, show_default=True,
              help="local: learned feature maps; conv: maps the decoder gives the head.")
@click.option("--width", default=32, show_default=True, help="conv: channels of the convolutions.")
@click.option("--free-bits", default=TRAIN_DEFAULTS.free_bits, show_default=True,
              help="conv: nats per latent dim the KL counts as at least while training "
                   "(keeps the latent in use; 0.5 is a good start).")
@click.option("--head-from", metavar="MODEL",
              help="conv with a head: start the head from this local-family model (name or path).")
@click.option("--pixel-floor", default=VAE_DEFAULTS.pixel_floor, show_default=True,
              help="Greyscale: weight of a uniform component in each pixel's law (bounds the "
                   "cost of any pixel; 0 is the seed's discretized logistic).")
@click.option("--seed", default=TRAIN_DEFAULTS.seed, show_default=True)
@click.option("--validation", default=TRAIN_DEFAULTS.validation, show_default=True,
              help="Hold out the last N training images; checkpoints report their -ELBO.")
@click.option("--dynamic-binarization", is_flag=True,
              help="Binary sets: re-binarize the greyscale training images every epoch.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train(data_name, data_root, out_dir, epochs, checkpoint_every, batch_size, lr, family, hidden,
          latent, mixture, features, width, free_bits, head_from, pixel_floor, seed, validation,
          dynamic_binarization, resume, quiet):
    """Train a VAE (encoder and decoder jointly) and write checkpoints to OUT."""
    from ..training.data import load_dataset
    from ..training.train import train as run_training

    dataset = load_dataset(data_name, data_root)
    try:
        widths = tuple(int(w) for w in hidden.split(",") if w) if hidden else None
        vae_config = model_config(family, dataset.likelihood, dataset.x_train[0].size, widths,
                                  latent, mixture, features, width, pixel_floor)
    except ValueError as e:
        raise BBCError(str(e)) from None
    if family != "conv" and (free_bits or head_from):
        raise BBCError("--free-bits and --head-from belong to the conv family")
    config = TrainConfig(data_name, epochs, checkpoint_every, batch_size, lr, seed, validation,
                         dynamic_binarization, free_bits, head_from)
    from ..training.distributed import is_leader

    with TrainProgress(epochs, quiet or not is_leader()) as progress:  # under torchrun: one bar
        run_training(vae_config, config, dataset, out_dir, resume, progress.update)


def model_config(family, likelihood, pixels, widths, latent, mixture, features, width, pixel_floor):
    if family == "mlp":
        return VAEConfig(likelihood, pixels, widths or VAE_DEFAULTS.hidden, latent or VAE_DEFAULTS.latent,
                         "relu", pixel_floor)
    if family == "local":
        if latent:
            raise ValueError("the local family has no latent")
        return VAEConfig(likelihood, pixels, widths or LOCAL_HIDDEN, 0, "relu", pixel_floor,
                         family, mixture, features)
    head = tuple(w for w in (widths or LOCAL_HIDDEN) if w)  # --hidden 0: no head
    return VAEConfig(likelihood, pixels, head, latent or CONV_LATENT, "relu", pixel_floor, family,
                     mixture, features if head else 0, width)


@main.command("eval")
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "data_name", help="Dataset (default: the one the checkpoint was trained on).")
@dataset_option
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--encoder", default="amortized", show_default=True)
@click.option("--samples", default=1, show_default=True, help="z samples per image for the ELBO.")
@click.option("--iwae", "iwae_samples", default=1000, show_default=True,
              help="K of the IWAE bound (0 to skip).")
@click.option("--level", type=click.IntRange(1, 9),
              help="Also the rate this compression level tends to (its particles and refinement).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@friendly_errors
def eval_command(checkpoint, data_name, data_root, split, encoder, samples, iwae_samples, level, as_json):
    """Print the BPD of CHECKPOINT on a dataset split: -ELBO and -IWAE-K."""
    from ..model.checkpoint import load_checkpoint
    from ..training.data import load_dataset
    from ..training.evaluate import evaluate_checkpoint

    ckpt = load_checkpoint(checkpoint)
    dataset = load_dataset(data_name or ckpt.info.get("data", ""), data_root)
    result = {"checkpoint": str(checkpoint),
              **evaluate_checkpoint(ckpt, dataset, split, encoder, samples, iwae_samples)}
    if level:
        from ..api import level_bound_bpd
        result.update(level=level, level_bound_bpd=level_bound_bpd(ckpt, encoder, dataset.split(split), level))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{dataset.name} {split} ({result['images']} images), encoder {encoder}:")
    click.echo(f"  -ELBO   {result['elbo_bpd']:.4f} bits/dim ({samples} z sample(s) per image)")
    if "kl_bpd" in result:
        click.echo(f"  KL     {result['kl_bpd']:.4f} bits/dim (what the latent carries)")
    if iwae_samples:
        click.echo(f"  -IWAE-{iwae_samples} {result['iwae_bpd']:.4f} bits/dim")
    if level:
        click.echo(f"  level {level}: {result['level_bound_bpd']:.4f} bits/dim (the rate it codes at)")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--method", required=True, type=click.Choice(["self-consistent", "optimal"]))
@click.option("--alpha", default=REFINE_DEFAULTS.alpha, show_default=True,
              help="Fraction of model samples per minibatch.")
@click.option("--model-samples", default=REFINE_DEFAULTS.model_samples, show_default=True,
              type=click.Choice(MODEL_SAMPLES),
              help="z for model samples: from N(0,I) (paper) or from q(z|x_train) (authors' code).")
@click.option("--epochs", default=REFINE_DEFAULTS.epochs, show_default=True)
@click.option("--data", "data_name", help="Dataset (default: the checkpoint's training data).")
@dataset_option
@click.option("--split", type=click.Choice(["train", "test"]),
              help="Images to fit: self-consistent uses train; optimal defaults to test.")
@click.option("--name", help="Encoder name (default: self-consistent[-posterior] or optimal-SPLIT).")
@click.option("-o", "--out", help="Checkpoint to write (default: add the encoder to CHECKPOINT).")
@click.option("--curve-every", default=0, help="Record test -ELBO every N epochs (0: never).")
@click.option("--batch-size", default=REFINE_DEFAULTS.batch_size, show_default=True)
@click.option("--lr", default=REFINE_DEFAULTS.lr, show_default=True)
@click.option("--seed", default=REFINE_DEFAULTS.seed, show_default=True)
@click.option("-f", "--force", is_flag=True, help="Replace an encoder of the same name.")
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def refine(checkpoint, method, alpha, model_samples, epochs, data_name, data_root, split, name, out,
           curve_every, batch_size, lr, seed, force, quiet):
    """Re-train the encoder of CHECKPOINT with its decoder frozen, and store it by name."""
    from ..model.checkpoint import load_checkpoint
    from ..training.data import load_dataset
    from ..training.refine import refine_checkpoint

    dataset = load_dataset(data_name or load_checkpoint(checkpoint).info.get("data", ""), data_root)
    split = split or ("test" if method == "optimal" else "train")
    config = RefineConfig(method, dataset.name, split, epochs, alpha, model_samples, batch_size, lr, seed)
    with TrainProgress(epochs, quiet) as progress:
        name, written = refine_checkpoint(checkpoint, config, dataset, name, out, force,
                                          curve_every, progress.update)
    if not quiet:
        click.echo(f"encoder {name!r} written to {written}")
