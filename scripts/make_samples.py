"""Write the demo's sample images: the first 24 mnist10k test digits, binary (PBM) and
greyscale (PNG), into bbcompress/assets/samples/. Run: python scripts/make_samples.py"""
from pathlib import Path

from bbcompress.io.images import images_from_array, restored
from bbcompress.kinds import Kind
from bbcompress.training.data import load_dataset

COUNT = 24
OUT = Path(__file__).resolve().parent.parent / "bbcompress" / "assets" / "samples"

if __name__ == "__main__":
    for name, suffix in (("mnist10k-binary", ".pbm"), ("mnist10k", ".png")):
        dataset = load_dataset(name)
        folder = OUT / ("binary" if dataset.kind == Kind.BINARY else "greyscale")
        folder.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images_from_array(dataset.x_test[:COUNT], dataset.kind, suffix)):
            restored(image).save(folder / f"test-{index:04d}{suffix}")
    print(f"wrote {2 * COUNT} images under {OUT}")
