"""``python -m bbcompress`` and the ``bbcompress`` command (``run``).

The command line's modules (numpy, click, the models' code) take a second to load; a
Ctrl-C meanwhile is one line and exit status 130, as it is once a command runs
(``cli.base``), not a KeyboardInterrupt traceback.
"""
import sys


def run() -> None:
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("bbcompress: interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
