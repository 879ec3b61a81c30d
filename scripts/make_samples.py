"""Write the demo's sample images: the first 24 mnist10k test digits, binary (PBM) and
greyscale (PNG), into bbcompress/assets/samples/. Run: python scripts/make_samples.py"""
from pathlib import Path

from PIL import Image

from bbcompress.data import load_dataset

COUNT = 24
OUT = Path(__file__).resolve().parent.parent / "bbcompress" / "assets" / "samples"

if __name__ == "__main__":
    for name, suffix in (("mnist10k-binary", "pbm"), ("mnist10k", "png")):
        folder = OUT / ("binary" if suffix == "pbm" else "greyscale")
        folder.mkdir(parents=True, exist_ok=True)
        for index, digit in enumerate(load_dataset(name).x_test[:COUNT]):
            image = Image.fromarray(digit.astype(bool)) if suffix == "pbm" else Image.fromarray(digit)
            image.save(folder / f"test-{index:04d}.{suffix}")
    print(f"wrote {2 * COUNT} images under {OUT}")
