"""What whole-image coding gains over 28x28 tiles, and what it costs in time: one model
that sees no position, the same images, cut into tiles of each side the format allows.

    python -m benchmarks.whole --model runs/photos64-wide/epoch-0010 [--side 512] [--images 6]

Rates are the coder's exact charge (-log2 p of every pixel, as ``exact_bits``; a stack
adds at most 64 bits): tiles of 28 lose the context across every tile border, tiles of
256 only across theirs. The anchor is the best classic encoding of each image (PNG,
WebP, JPEG-XL at effort 9: what bbcompress stores where no model wins). Times: one image's tiles pushed and popped on one stack
(``--threads`` BLAS threads), seconds per megapixel, every pixel checked. The images are
the held-out grey photos (``training.photos``), centre-cropped to ``--side``.
Writes benchmarks/results/whole-NAME.{json,md}.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from threadpoolctl import threadpool_limits

from bbcompress.codec.bits_back import pop_batches, push_batches
from bbcompress.io.archive import TILE_SIDES
from bbcompress.io.classic import best_encoding
from bbcompress.io.images import to_tiles
from bbcompress.kinds import Kind
from bbcompress.sections import coding_of, tiled
from bbcompress.training.photos import benchmark_photos
from bbcompress.codec.bits_back import CodingSettings
from bbcompress.zoo import resolve_model

from .harness import write_results


def side_rates(coding, pixels: np.ndarray, side: int, timed: bool) -> dict:
    """Bits per pixel of ``pixels`` in tiles of ``side`` (and, if ``timed``, the round trip's speed)."""
    coding = tiled(coding, side)
    tiles, masks = to_tiles(pixels, side)
    bits = float(sum(coding.exact_bits(tiles[i:i + 8], masks[i:i + 8]).sum() for i in range(0, len(tiles), 8)))
    row = {"side": side, "tiles": len(tiles), "bits_per_px": bits / pixels.size}
    if timed:
        megapixels = pixels.size / 1e6
        started = time.perf_counter()
        words, schedule, warmup = push_batches(coding, tiles, masks, coding.max_batch)
        middle = time.perf_counter()
        back = pop_batches(coding, words, masks, schedule, warmup)
        ended = time.perf_counter()
        assert np.array_equal(back, tiles), "a round trip did not restore the tiles"
        row.update(realized_bits_per_px=32 * len(words) / pixels.size, compress_s_per_mp=(middle - started) / megapixels,
                   decompress_s_per_mp=(ended - middle) / megapixels)
    return row


def markdown(report: dict) -> str:
    lines = ["| tile side | bits/px (exact) | ÷ 28x28 tiles | ÷ best classic | compress s/MP | decompress s/MP |",
             "|---:|---:|---:|---:|---:|---:|"]
    base, classic = report["totals"][str(TILE_SIDES[0])], report["classic_bits_per_px"]
    for side in TILE_SIDES:
        total, timing = report["totals"][str(side)], report["timing"][str(side)]
        lines.append(f"| {side} | {total:.4f} | {total / base:.4f} | {total / classic:.3f} | "
                     f"{timing['compress_s_per_mp']:.1f} | {timing['decompress_s_per_mp']:.1f} |")
    lines.append(f"| best classic (e9) | {classic:.4f} | | 1.000 | | |")
    return (f"Model `{report['model']}` on {len(report['images'])} held-out grey photos "
            f"(centre crops of at most {report['side']}x{report['side']}, {report['pixels']:,} pixels); times on "
            f"`{report['timed_image']}` with {report['threads']} BLAS thread(s), on a shared machine.\n\n"
            + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="results name (default: whole-MODEL)")
    args = parser.parse_args()
    checkpoint = resolve_model(args.model)
    coding = coding_of(checkpoint, CodingSettings())
    photos = [(name, np.asarray(PILImage.fromarray(rgb).convert("L"))) for name, rgb in
              benchmark_photos(args.side)[:args.images]]
    rows, timing = [], {}
    with threadpool_limits(args.threads):
        for index, (name, pixels) in enumerate(photos):
            sides = [side_rates(coding, pixels, side, timed=index == 0) for side in TILE_SIDES]
            codec, data = best_encoding(pixels, Kind.GREYSCALE, effort=9)
            rows.append({"name": name, "pixels": pixels.size, "sides": sides, "classic": codec,
                         "classic_bits_per_px": 8 * len(data) / pixels.size})
            print(name, {r["side"]: round(r["bits_per_px"], 4) for r in sides}, flush=True)
            if index == 0:
                timing = {str(r["side"]): r for r in sides}
    pixels = sum(r["pixels"] for r in rows)
    totals = {str(side): sum(s["bits_per_px"] * r["pixels"] for r in rows for s in r["sides"] if s["side"] == side)
              / pixels for side in TILE_SIDES}
    classic = sum(r["classic_bits_per_px"] * r["pixels"] for r in rows) / pixels
    report = {"model": args.model, "side": args.side, "threads": args.threads, "pixels": pixels,
              "classic_bits_per_px": classic,
              "timed_image": photos[0][0], "images": rows, "totals": totals, "timing": timing}
    write_results(args.out or f"whole-{Path(args.model).name}", "Whole images against 28x28 tiles",
                  markdown(report), report)


if __name__ == "__main__":
    main()
