"""The out-of-the-box demo: compress the shipped sample digits with the shipped models,
decompress them, verify every pixel, and set the size beside PNG's."""
from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np

from .api import CodingOptions, archive_rates, roundtrip
from .rates import section_rate
from .errors import IntegrityError
from .io.archive import parse
from .io.images import restored
from .io.paths import read_inputs
from .kinds import Kind
from .zoo import ModelSet


def samples_folder() -> Path:
    return Path(str(resources.files("bbcompress").joinpath("assets/samples")))


def png_bits(images) -> int:
    """Bits of each image as an optimized PNG (what a user would otherwise store)."""
    total = 0
    for image in images:
        buffer = io.BytesIO()
        restored(image).save(buffer, format="PNG", optimize=True)
        total += 8 * buffer.tell()
    return total


def run_demo(folder: Path | None = None, encoder: str | None = None) -> list[dict]:
    """Roundtrip the images in ``folder``; returns one row per image kind."""
    images = read_inputs([str(folder or samples_folder())])
    data, decoded = roundtrip(images, ModelSet(), CodingOptions(encoder=encoder))
    by_name = {image.name: image for image in decoded}
    for image in images:
        twin = by_name[image.name]
        if twin.mode != image.mode or not np.array_equal(twin.pixels, image.pixels):
            raise IntegrityError(f"demo roundtrip changed {image.name}")
    rows = []
    for kind in Kind:
        sections = [s for s in parse(data).sections if s.kind == kind]
        if not sections:
            continue
        rates = [section_rate(s) for s in sections]
        pixels, bits = sum(r.pixels for r in rates), sum(r.total_bits for r in rates)
        initial = sum(r.initial_bits for r in rates)
        png = png_bits([image for image in images if image.kind == kind])
        rows.append({"kind": str(kind), "images": sum(r.images for r in rates), "pixels": pixels,
                     "coded_by": [row["model"] for row in archive_rates(parse(data)) if row["kind"] == kind],
                     "bbcompress_bits": bits, "bbcompress_bpd": bits / pixels,
                     "net_bpd": (bits - initial) / pixels, "png_bits": png,
                     "png_bpd": png / pixels, "roundtrip": "identical"})
    return rows
