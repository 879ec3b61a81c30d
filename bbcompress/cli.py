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
@click.option("--activation", default="relu", show_default=True,
              type=click.Choice(["relu", "tanh", "softplus"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train(data_name, data_root, out_dir, epochs, checkpoint_every, batch_size, lr, hidden,
          latent, activation, seed, resume, quiet):
    """Train a VAE (encoder and decoder jointly) and write checkpoints to OUT."""
    from .data import load_dataset
    from .model import VAEConfig
    from .progress import TrainProgress
    from .train import TrainConfig, train as run_training

    dataset = load_dataset(data_name, data_root)
    widths = tuple(int(w) for w in hidden.split(",") if w)
    vae_config = VAEConfig(dataset.likelihood, dataset.x_train[0].size, widths, latent, activation)
    config = TrainConfig(data_name, epochs, checkpoint_every, batch_size, lr, seed)
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
