"""The command group and what every command shares: one-line errors and exit codes."""
from __future__ import annotations

import functools
import signal
import sys

import click

from ..errors import BBCError, ModelMismatch, OutputExists

HINTS = {OutputExists: " (use -f to overwrite)", ModelMismatch: " (pass its checkpoint with --model)"}


def friendly_errors(command):
    """Our errors become one line on stderr and exit status 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BBCError as e:
            hint = next((h for cls, h in HINTS.items() if isinstance(e, cls)), "")
            click.echo(f"bbcompress: error: {e}{hint}", err=True)
            sys.exit(1)
        except ModuleNotFoundError as e:
            if e.name not in ("torch", "torchvision"):
                raise
            click.echo(f"bbcompress: error: this command needs {e.name}: "
                       f"pip install 'bbcompress[train]'", err=True)
            sys.exit(1)
        except KeyboardInterrupt:  # also SIGTERM (see main): temporary files are removed
            click.echo("bbcompress: interrupted", err=True)
            sys.exit(130)
        except OSError as e:  # a full disk, a closed stdout: the system's words, one line
            click.echo(f"bbcompress: error: {e.strerror or e}", err=True)
            sys.exit(1)
        except MemoryError:  # the machine's limit, not a bug: archives are bounded, not by it
            click.echo("bbcompress: error: out of memory (try fewer --threads, or fewer images "
                       "per archive)", err=True)
            sys.exit(1)
        except BaseException as e:
            if type(e).__name__ != "PanicException":  # constriction's, a BaseException
                raise
            click.echo(f"bbcompress: error: the entropy coder refused its input ({e})", err=True)
            sys.exit(1)
    return wrapper


def interrupt(signum, frame):
    raise KeyboardInterrupt


class Main(click.Group):
    """Usage errors too are one line and exit status 1, like every other failure."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as e:
            click.echo(f"bbcompress: error: {e.format_message()} (see --help)", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("bbcompress: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="bbcompress")
def main():
    """Lossless image compression by bits-back ANS over a variational auto-encoder."""
    signal.signal(signal.SIGTERM, interrupt)

