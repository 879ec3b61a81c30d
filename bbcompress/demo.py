"""The out-of-the-box demo: compress the shipped sample digits with the shipped models,
decompress them, verify every pixel, and set the size beside PNG's."""
from __future__ import annotations

import io
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from .archive import read_archive, write_archive
from .compression import CodingOptions, compress_images, decompress_archive, section_rate
from .errors import IntegrityError
from .images import restored
from .inputs import read_inputs
from .registry import default_model, resolve_model


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


def run_demo(folder: Path | None = None, encoder: str | None = None, progress=None) -> list[dict]:
    """Roundtrip the images in ``folder``; returns one row per image kind."""
    images = read_inputs([str(folder or samples_folder())])
    models = {kind: (default_model(kind), resolve_model(default_model(kind)))
              for kind in {image.kind for image in images}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.bbc"
        write_archive(path, compress_images(images, models, CodingOptions(encoder=encoder), progress))
        archive = read_archive(path)
        decoded = decompress_archive(archive, lambda section: models[section.kind][1], progress)
    by_name = {image.name: image for image in decoded}
    for image in images:
        twin = by_name[image.name]
        if twin.mode != image.mode or not np.array_equal(twin.pixels, image.pixels):
            raise IntegrityError(f"demo roundtrip changed {image.name}")
    rows = []
    for section in archive.sections:
        rate = section_rate(section)
        group = [image for image in images if image.kind == section.kind]
        rows.append({"kind": section.kind, "model": section.model["name"],
                     "encoder": section.model["encoder"],
                     "images": rate.images, "pixels": rate.pixels,
                     "bbcompress_bits": rate.total_bits, "bbcompress_bpd": rate.bits_per_dim,
                     "net_bpd": rate.net_bits_per_dim, "png_bits": png_bits(group),
                     "png_bpd": png_bits(group) / rate.pixels, "roundtrip": "identical"})
    return rows
