"""Progress on stderr for long work: a bar on a terminal, a line per checkpoint otherwise."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm


class TrainProgress:
    def __init__(self, epochs: int, quiet: bool = False):
        self.quiet = quiet
        self.started = time.monotonic()
        self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True,
                        disable=quiet or not sys.stderr.isatty())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def update(self, event: dict) -> None:
        if self.bar.n < event["epoch"]:
            self.bar.update(event["epoch"] - self.bar.n)
        rate = event.get("running_bpd", event.get("loss_bpd"))
        self.bar.set_postfix(bpd=f"{rate:.4f}", refresh=False)
        if "curve_bpd" in event and not self.quiet:
            self.bar.write(f"epoch {event['epoch']}: test {event['curve_bpd']:.4f} bits/dim (-ELBO)",
                           file=sys.stderr)
        if "test_bpd" in event and not self.quiet:
            elapsed = time.monotonic() - self.started
            valid = f"valid {event['valid_bpd']:.4f} " if "valid_bpd" in event else ""
            self.bar.write(f"epoch {event['epoch']}: train {event['train_bpd']:.4f} {valid}"
                           f"test {event['test_bpd']:.4f} bits/dim (-ELBO), "
                           f"{elapsed:.0f} s elapsed", file=sys.stderr)


class TileProgress:
    """A bar over tiles (28x28 blocks) for compress / decompress."""

    def __init__(self, total: int, description: str, quiet: bool = False, shown: bool | None = None):
        """``shown``: True/False force the bar on/off; None shows it on a terminal unless quiet."""
        shown = (not quiet and sys.stderr.isatty()) if shown is None else shown
        self.bar = tqdm(total=total, unit="tile", desc=description, file=sys.stderr,
                        dynamic_ncols=True, disable=not shown)

    def __enter__(self):
        return self.bar.update

    def __exit__(self, *exc):
        self.bar.close()
