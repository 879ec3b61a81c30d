"""The command group and what every command shares: one-line errors and exit codes."""
from __future__ import annotations

import functools
import os
import shlex
import signal
import sys
from typing import NoReturn

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
        except BrokenPipeError:  # before OSError: a reader that has gone is no error (see Main)
            raise
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


def end_on_closed_stdout() -> NoReturn:
    """The reader of standard output has gone (``bbcompress info x.bbc | head``): end at
    once and quietly with status 141, what the shell reports for gzip, zstd and xz, which
    SIGPIPE kills. Python ignores SIGPIPE and raises BrokenPipeError instead; stdout is
    pointed at /dev/null, as Python's documentation advises, so that the flush at exit of
    what is still buffered cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no stdout, or one without a descriptor
        pass
    sys.exit(141)


def interrupt(signum, frame):
    raise KeyboardInterrupt


class Main(click.Group):
    """Usage errors too are one line and exit status 1, like every other failure; a closed
    standard output ends quietly, whatever was printing (see ``end_on_closed_stdout``)."""

    def make_context(self, *args, **kwargs):  # --help and -V print while parsing
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            end_on_closed_stdout()

    def invoke(self, ctx):  # the command, and its own --help
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            end_on_closed_stdout()

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
            if sys.stdout is not None:  # binary output may still be buffered: flush it here, not
                sys.stdout.flush()      # at exit, where a closed pipe would raise unseen
        except BrokenPipeError:
            end_on_closed_stdout()
        except click.UsageError as e:
            click.echo(f"bbcompress: error: {e.format_message()} (see --help)", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("bbcompress: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


class ResearchOption(click.Option):
    """An option for measuring models rather than for compressing files: ``--help`` lists
    it apart (see ``UserFirstHelp``)."""


class UserFirstHelp(click.Command):
    """``--help`` lists the user's options first and the research options under their own
    heading: click has no option groups."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[bool, list] = {False: [], True: []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and not isinstance(param, click.Argument):
                rows[isinstance(param, ResearchOption)].append(record)
        for heading, research in (("Options", False), ("Advanced (research) options", True)):
            if rows[research]:
                with formatter.section(heading):
                    formatter.write_dl(rows[research])


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="bbcompress")
def main():
    """Lossless image compression by bits-back ANS over a variational auto-encoder."""
    signal.signal(signal.SIGTERM, interrupt)



def invocation(context: click.Context) -> str:
    """The command as given: the options set on the command line or by environment, in
    their long spelling (what a model card records of the run that made it)."""
    words = ["bbcompress", context.info_name or ""]
    for param in context.command.params:
        source = context.get_parameter_source(param.name)
        if source not in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
            continue
        value, option = context.params[param.name], max(param.opts, key=len)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words.append(option if value else (param.secondary_opts or [option])[0])
        else:
            words += [option, str(value)]
    return shlex.join(words)
