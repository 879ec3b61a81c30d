"""train, eval, refine: the research commands (they import torch when they run)."""
from __future__ import annotations

import json

import click

from .. import api
from ..errors import BBCError
from ..training.config import COSINE_END, MODEL_SAMPLES, SCHEDULES, RefineConfig, TrainConfig
from .base import friendly_errors, invocation, main
from .progress import TrainProgress

TRAIN_DEFAULTS, REFINE_DEFAULTS = TrainConfig(""), RefineConfig("optimal", "")


def family_defaults(option: str) -> str:
    """Each family's default for a train option, as --help lists them."""
    def shown(value):
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return "; ".join(f"{name}: {shown(f.defaults[option])}" for name, f in api.FAMILIES.items()
                     if option in f.defaults)


def dataset_option(function):
    return click.option("--data-root", type=click.Path(file_okay=False),
                        help="Folder of fashion-mnist IDX files or the torchvision MNIST root.")(function)


@main.command()
@click.option("--data", "data_name", default="mnist10k-binary", show_default=True,
              help="Dataset: mnist10k, fashion-mnist, mnist, photos (Debian's wallpapers, grey tiles), "
                   "each optionally -binary; photos-64 (64x64 crops); photos-planes-64 (their colour planes: "
                   "green, red and blue less green); pages-64 (1-bit document pages, "
                   "64x64 crops); or a folder "
                   "of your images (any sizes: cut into 28x28 tiles, a tenth held out as test).")
@dataset_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder for checkpoints (must be empty unless --resume).")
@click.option("--epochs", default=TRAIN_DEFAULTS.epochs, show_default=True)
@click.option("--checkpoint-every", default=TRAIN_DEFAULTS.checkpoint_every, show_default=True)
@click.option("--batch-size", default=TRAIN_DEFAULTS.batch_size, show_default=True)
@click.option("--lr", default=TRAIN_DEFAULTS.lr, show_default=True, help="The (first) learning rate.")
@click.option("--schedule", default=TRAIN_DEFAULTS.schedule, show_default=True, type=click.Choice(SCHEDULES),
              help=f"The rate over the epochs: constant, or a half cosine down to {COSINE_END:g} of --lr "
                   f"at the last epoch (fixed by --epochs).")
@click.option("--start-from", metavar="MODEL",
              help="Start every weight from this model (name or checkpoint path) of the same "
                   "configuration, e.g. a run's checkpoint, to go on with another schedule.")
@click.option("--family", type=click.Choice(list(api.FAMILIES)), default=api.DEFAULT_FAMILY, show_default=True,
              help="; ".join(f"{name}: {f.summary}" for name, f in api.FAMILIES.items()) + ".")
@click.option("--hidden", help=f"Hidden layer widths (ReLU)  [default: {family_defaults('hidden')}; "
              f"conv --hidden 0: no head]")
@click.option("--latent", type=int, help=f"Latent dims  [default: {family_defaults('latent')}]")
@click.option("--mixture", type=int, help=f"Logistics per pixel  [default: {family_defaults('mixture')}]")
@click.option("--features", type=int, help="Learned feature maps (local); maps the decoder gives the "
              f"head (conv)  [default: {family_defaults('features')}]")
@click.option("--width", type=int, help="Channels of the convolutions (conv); of a 1x1 layer before the "
              f"output, 0 for none (wide)  [default: {family_defaults('width')}]")
@click.option("--context", type=click.Choice(["cone"]),
              help="wide: a cone instead of the window above (the vertical stack reads only rows "
                   "above, so each law sees the row above 3 columns to the right): decoded in 3.2x fewer "
                   "steps (136 a 28x28 tile against 433).")
@click.option("--predictor", type=click.Choice(["linear"]),
              help="wide, greyscale: each logistic's mean is a linear map of the nearest pixels "
                   "(starting as left, up, ...) plus the network's correction, not a squashed output: "
                   "for photographs.")
@click.option("--free-bits", default=TRAIN_DEFAULTS.free_bits, show_default=True,
              help="conv: nats per latent dim the KL counts as at least while training "
                   "(keeps the latent in use; 0.5 is a good start).")
@click.option("--head-from", metavar="MODEL",
              help="conv with a head: start the head from this local-family model (name or path).")
@click.option("--pixel-floor", default=0.0, show_default=True,
              help="Greyscale: weight of a uniform component in each pixel's law (bounds the "
                   "cost of any pixel; 0 is the seed's discretized logistic).")
@click.option("--seed", default=TRAIN_DEFAULTS.seed, show_default=True)
@click.option("--validation", default=TRAIN_DEFAULTS.validation, show_default=True,
              help="Hold out the last N training images; checkpoints report their -ELBO.")
@click.option("--dynamic-binarization", is_flag=True,
              help="Binary sets: re-binarize the greyscale training images every epoch.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint (on any device).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]),
              envvar="BBCOMPRESS_TRAIN_DEVICE",
              help="Where to train: auto takes a CUDA GPU when torch sees one, else the CPU "
                   "(or $BBCOMPRESS_TRAIN_DEVICE).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train(data_name, data_root, out_dir, epochs, checkpoint_every, batch_size, lr, schedule, start_from, family, hidden,
          latent, mixture, features, width, context, predictor, free_bits, head_from, pixel_floor, seed, validation,
          dynamic_binarization, resume, device, quiet):
    """Train a VAE (encoder and decoder jointly) and write checkpoints to OUT."""
    from ..training.data import load_dataset
    from ..training.train import train as run_training

    dataset = load_dataset(data_name, data_root)
    spec = api.FAMILIES[family]
    try:
        widths = tuple(int(w) for w in hidden.split(",") if w) if hidden else None
        vae_config = spec.config_from_options(dataset.likelihood, dataset.x_train[0].size, hidden=widths,
                                              latent=latent, mixture=mixture, features=features,
                                              width=width, pixel_floor=pixel_floor, context=context,
                                              predictor=predictor)
    except ValueError as e:
        raise BBCError(str(e)) from None
    taken = {"free_bits": free_bits, "head_from": head_from, "context": context, "predictor": predictor}
    wrong = [f"--{k.replace('_', '-')}" for k, v in taken.items() if v and k not in spec.train_options]
    if wrong:
        raise BBCError(f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply to the "
                       f"{family} family")
    try:
        config = TrainConfig(data_name, epochs, checkpoint_every, batch_size, lr, seed, validation,
                             dynamic_binarization, free_bits, head_from, schedule, start_from)
    except ValueError as e:
        raise BBCError(str(e)) from None
    from ..training.distributed import is_leader

    with TrainProgress(epochs, quiet or not is_leader()) as progress:  # under torchrun: one bar
        run_training(vae_config, config, dataset, out_dir, resume, progress.update, device,
                     invocation(click.get_current_context()))


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
    from ..training.data import load_dataset
    from ..training.evaluate import evaluate_checkpoint, level_bound_bpd

    ckpt = api.load_checkpoint(checkpoint)
    dataset = load_dataset(data_name or ckpt.info.get("data", ""), data_root)
    result = {"checkpoint": str(checkpoint),
              **evaluate_checkpoint(ckpt, dataset, split, encoder, samples, iwae_samples)}
    if level:
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
    from ..training.data import load_dataset
    from ..training.refine import refine_checkpoint

    dataset = load_dataset(data_name or api.load_checkpoint(checkpoint).info.get("data", ""), data_root)
    split = split or ("test" if method == "optimal" else "train")
    config = RefineConfig(method, dataset.name, split, epochs, alpha, model_samples, batch_size, lr, seed)
    with TrainProgress(epochs, quiet) as progress:
        name, written = refine_checkpoint(checkpoint, config, dataset, name, out, force,
                                          curve_every, progress.update)
    if not quiet:
        click.echo(f"encoder {name!r} written to {written}")
