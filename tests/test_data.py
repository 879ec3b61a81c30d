import gzip
import hashlib

import numpy as np
import pytest

from bbcompress.training.data import DATASET_NAMES, load_dataset
from bbcompress.errors import DataError

MNIST10K_SHA256 = "01a649acf97bc53c9bbc1a378d3087f5a8f67ccf25746dab384bcbe11feed658"
BINARY_SHA256 = "8c2029486683d1d0e0a32a507e3604a360eae58bc40d04b39a1d8d8b38395521"


def test_mnist10k_matches_the_design_checksum():
    ds = load_dataset("mnist10k")
    assert ds.x_train.shape == (8000, 28, 28) and ds.x_test.shape == (2000, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.kind == "greyscale"
    digest = hashlib.sha256(ds.x_train.tobytes() + ds.x_test.tobytes()).hexdigest()
    assert digest == MNIST10K_SHA256


def test_binarization_matches_the_design_checksum():
    ds = load_dataset("mnist10k-binary")
    assert ds.kind == "binary" and set(np.unique(ds.x_train)) == {0, 1}
    digest = hashlib.sha256(ds.x_train.tobytes() + ds.x_test.tobytes()).hexdigest()
    assert digest == BINARY_SHA256


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    assert "fashion-mnist-binary" in DATASET_NAMES


def test_missing_fashion_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)


def test_mnist_without_root_says_what_is_needed(monkeypatch):
    monkeypatch.delenv("BBCOMPRESS_MNIST_ROOT", raising=False)
    with pytest.raises(DataError, match="torchvision root"):
        load_dataset("mnist")


def write_idx(path, images):
    header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in images.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes())


def test_idx_files_are_read_from_a_root(tmp_path):
    train = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    test = train[:2][::-1].copy()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert np.array_equal(ds.x_train, train) and np.array_equal(ds.x_test, test)
    assert load_dataset("fashion-mnist-binary", tmp_path).x_test.max() <= 1


def test_a_malformed_idx_file_is_refused(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"neither")
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset("fashion-mnist", tmp_path)


def test_a_folder_of_images_is_a_dataset_of_whole_tiles(tmp_path):
    from PIL import Image
    grey = load_dataset("mnist10k").x_test
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.tile(grey[0], (3, 2))[:84, :50]).save(tmp_path / "a.png")  # 3x1 whole tiles
    Image.fromarray(grey[1]).save(tmp_path / "sub" / "b.pgm")  # 1 tile
    Image.fromarray(grey[2][:20, :20]).save(tmp_path / "small.png")  # none
    Image.fromarray(np.ones((56, 56), bool)).save(tmp_path / "white.pbm")  # 4 tiles, binary: 0/255
    data = load_dataset(str(tmp_path))
    assert data.kind == "greyscale" and len(data.x_train) + len(data.x_test) == 8 and len(data.x_test) == 1
    tiles = np.concatenate([data.x_train, data.x_test])
    assert sum(np.array_equal(t, grey[0]) for t in tiles) == 3 and sum((t == 255).all() for t in tiles) == 4
    assert np.array_equal(data.x_train, load_dataset(str(tmp_path)).x_train), "a fixed shuffle"


def test_a_folder_of_binary_images_is_binary(tmp_path):
    from PIL import Image
    binary = load_dataset("mnist10k-binary").x_test
    for i in range(3):
        Image.fromarray(binary[i].astype(bool)).save(tmp_path / f"{i}.pbm")
    data = load_dataset(str(tmp_path))
    assert data.kind == "binary" and data.x_train.max() == 1


@pytest.mark.parametrize("content, message", [("nothing", "no input images"), ("small", "smaller than a tile")])
def test_folders_without_tiles_are_refused_clearly(tmp_path, content, message):
    from PIL import Image
    if content == "small":
        Image.fromarray(np.zeros((20, 300), np.uint8)).save(tmp_path / "strip.png")
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path))


def test_a_folder_with_colour_images_is_refused_for_training(tmp_path):
    from PIL import Image
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(DataError, match="c.png is rgb"):
        load_dataset(str(tmp_path))


def test_photographs_are_split_and_downsampled_the_same_everywhere(tmp_path, monkeypatch):
    from PIL import Image
    from bbcompress.training import photos
    for i in range(8):
        Image.new("RGB", (400 + i, 300), (i, 2 * i, 3 * i)).save(tmp_path / f"p{i}.jpg")
    monkeypatch.setattr(photos, "SOURCES", (("some-package", tmp_path, "*.jpg"),))
    train, held = photos.split()
    assert [p.name for p in held] == ["p3.jpg", "p7.jpg"] and len(train) == 6
    small = photos.downsampled(held[0])
    assert 100 <= small.width <= 200 and small.size == photos.downsampled(held[0]).size
    with pytest.raises(ValueError, match="JPEG artefacts"):
        photos.downsampled(held[0], 1.5)
    assert [a.shape for _, a in photos.benchmark_photos(side=64)] == [(64, 64, 3)] * 2
    monkeypatch.setattr(photos, "SOURCES", (("some-package", tmp_path / "none", "*.jpg"),))
    with pytest.raises(DataError, match="apt-get install some-package"):
        photos.split()


def test_colour_planes_of_photographs_are_what_an_archive_codes(tmp_path, monkeypatch):
    from PIL import Image
    from bbcompress.kinds import Kind, to_planes
    from bbcompress.training import data, photos
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    monkeypatch.setattr(photos, "SOURCES", (("some-package", tmp_path, "*.png"),))
    grey, planes = load_dataset("photos-64"), load_dataset("photos-planes-64")
    assert planes.kind == "greyscale" and "photos-planes-64-binary" not in data.DATASET_NAMES
    assert len(planes.x_train) == 3 * len(grey.x_train) and len(planes.x_test) == 3 * len(grey.x_test)
    (_, held), = photos.benchmark_photos()
    expected = np.concatenate([photos.grey_tiles([p], 64) for p in to_planes(held, Kind.RGB)])
    assert np.array_equal(planes.x_test, expected)  # green's tiles, then red's and blue's less green


def test_page_crops_are_black_ones_and_keep_few_blank_ones(tmp_path):
    from PIL import Image
    from bbcompress.training.pages import BLANK_KEPT, page_crops
    page = np.ones((650, 650), dtype=bool)  # white
    page[10:20, 5:60] = False  # a line of "text" in the first crop
    page[645:, 645:] = False  # in the partial crops at the edges, dropped
    Image.fromarray(page).save(tmp_path / "page.pbm")
    crops = page_crops(tmp_path / "page.pbm", 64, np.random.default_rng(0))
    assert crops.dtype == np.uint8 and crops.shape[1:] == (64, 64)
    inked = ~crops.reshape(len(crops), -1).all(axis=1)
    assert inked.sum() == 1 and (1 - crops[inked][0]).sum() == 10 * 55  # 0 = black, as bbcompress reads it
    assert (~inked).sum() < 3 * 100 / BLANK_KEPT  # of 99 blank crops, ~5 kept


def test_pages_without_their_tools_say_what_to_install(monkeypatch, tmp_path):
    from bbcompress.training import pages
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(pages.shutil, "which", lambda program: None)
    monkeypatch.setattr(pages, "split", lambda: ([], []))
    with pytest.raises(DataError, match="apt-get install groff poppler-utils"):
        pages.rendered_pages()


def test_pages_held_out_are_every_fourth_source(monkeypatch, tmp_path):
    from bbcompress.training import pages
    names = [tmp_path / f"doc{i:02d}.pdf" for i in range(9)]
    monkeypatch.setattr(pages, "sources", lambda: names)
    train, held = pages.split()
    assert held == [names[3], names[7]] and not set(train) & set(held) and len(train) == 7


def test_a_rendering_tool_that_fails_is_a_data_error_with_what_it_said():
    from bbcompress.training.pages import run
    with pytest.raises(DataError, match="rendering pages: sh -c .*failed: no gropdf here"):
        run(["sh", "-c", "echo no gropdf here >&2; exit 1"])
