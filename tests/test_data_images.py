"""Specification of the image-folder dataset source, with real image files written by PIL."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from zoo.core.errors import DataError
from zoo.data import image_folder
from zoo.data.configs import ImageFolderDatasetConfig

COLOURS = {"blue": (0, 0, 255), "red": (255, 0, 0)}  # class -> RGB fill


def make_folder(root, per_class=10, colours=COLOURS, size=(12, 16), ext="png"):
    """One sub-folder per class holding `per_class` solid-colour images; returns `root`."""
    for name, rgb in colours.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", size, rgb).save(folder / f"{i}.{ext}")
    return root


def load(path, seed=0, **fields):
    cfg = OmegaConf.structured(ImageFolderDatasetConfig(path=str(path), **fields))
    return image_folder.load(cfg, seed)


def arrays(dataset):
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def test_rgb_images_load_raw_with_their_resize_and_class_names_from_folders(tmp_path):
    raw = load(make_folder(tmp_path / "imgs"), image_size=[8, 6])
    info = raw.info
    assert (info.name, info.task, info.modality) == ("imgs", "classification", "image")
    assert info.input_shape == (8, 6, 3) and info.class_names == ["blue", "red"]
    assert info.features == [{"name": "image", "column": None, "kind": "tensor", "dtype": "uint8",
                              "shape": [None, None, 3], "resize": [8, 6]}]  # the model resizes
    assert info.num_examples == {"train": 14, "validation": 2, "test": 4}
    x, y = arrays(raw.train)
    assert x.shape == (14, 16, 12, 3) and x.dtype == np.uint8 and y.dtype == np.int32  # as stored
    assert x.min() == 0 and x.max() == 255
    np.testing.assert_array_equal(y, (x[:, 0, 0, 0] > 128).astype(int))  # red pixels -> "red"


def test_grayscale_mode_gives_one_channel_from_any_format(tmp_path):
    root = tmp_path / "grey"
    for name, level, ext in (("dark", 40, "png"), ("light", 200, "jpg"), ("mid", 120, "gif"),
                             ("pale", 160, "bmp")):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (10, 10), level).save(root / name / f"{i}.{ext}")
    raw = load(root, image_size=[5, 5], color_mode="grayscale", test_fraction=0.5)
    assert raw.info.input_shape == (5, 5, 1)
    x, y = arrays(raw.test)
    assert x.shape[1:] == (10, 10, 1)
    levels = np.array([40, 200, 120, 160])  # dark, light, mid, pale (sorted names)
    np.testing.assert_allclose(x[:, 2, 2, 0], levels[y], atol=2)


def test_rgb_mode_turns_grey_images_into_three_equal_channels(tmp_path):
    root = tmp_path / "imgs"
    make_folder(root, per_class=5)
    Image.new("L", (12, 16), 77).save(root / "red" / "grey.png")
    x, _ = arrays(load(root, image_size=[4, 4], val_fraction=0.0, test_fraction=0.0).train)
    grey = x[(x[:, 0, 0, 0] == 77)]
    assert len(grey) == 1 and np.all(grey == 77)


def test_extensions_are_case_insensitive_and_other_files_ignored(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=3, ext="PNG")
    Image.new("RGB", (4, 4)).save(root / "red" / "x.JPEG")
    (root / "red" / "notes.txt").write_text("not an image")
    assert sum(load(root).info.num_examples.values()) == 7


def test_split_is_seeded_and_stratified(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=20, size=(4, 4))
    first, again, other = (load(root, seed=s, image_size=[4, 4]) for s in (3, 3, 4))
    np.testing.assert_array_equal(arrays(first.test)[1], arrays(again.test)[1])
    assert sorted(arrays(first.test)[1]) == [0] * 4 + [1] * 4
    order = [list(first.train.map(lambda x, y: y).as_numpy_iterator()),
             list(other.train.map(lambda x, y: y).as_numpy_iterator())]
    assert order[0] != order[1]


def test_a_separate_test_folder_with_the_same_classes(tmp_path):
    train = make_folder(tmp_path / "train", per_class=10)
    test = make_folder(tmp_path / "test", per_class=3, colours={"red": (255, 0, 0)})
    raw = load(train, test_path=str(test), val_fraction=0.2)
    assert raw.info.num_examples == {"train": 16, "validation": 4, "test": 3}
    assert set(arrays(raw.test)[1]) == {1}  # "red" keeps its training id
    make_folder(test, per_class=1, colours={"green": (0, 255, 0)})
    with pytest.raises(DataError, match="class folder .*test/green is not a training class"):
        load(train, test_path=str(test))


# --- errors ---------------------------------------------------------------------------------

def test_an_unreadable_image_is_named(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=3)
    (root / "red" / "broken.png").write_bytes(b"\x89PNG not really an image")
    with pytest.raises(DataError, match="cannot read image .*red/broken.png"):
        load(root)


def test_a_format_tensorflow_cannot_decode_is_named(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=3)
    Image.new("RGB", (4, 4)).save(root / "red" / "tiff.png", format="TIFF")
    with pytest.raises(DataError, match="image .*tiff.png is stored as TIFF.*convert"):
        load(root)


def test_missing_empty_and_class_less_folders_are_named(tmp_path):
    with pytest.raises(DataError, match="image folder .*nope not found"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="image folder .*empty is empty"):
        load(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match="image folder .*flat has no class sub-folders"):
        load(tmp_path / "flat")


def test_a_class_folder_without_images_is_named(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=3)
    (root / "zebra").mkdir()
    (root / "zebra" / "readme.txt").write_text("no images yet")
    with pytest.raises(DataError, match="class folder .*imgs/zebra has no images"):
        load(root)


def test_a_single_class_is_an_error(tmp_path):
    with pytest.raises(DataError, match="1 class"):
        load(make_folder(tmp_path / "imgs", colours={"red": (255, 0, 0)}))


def test_bad_color_mode_and_image_size_list_the_choices(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=2)
    with pytest.raises(DataError, match="color_mode='cmyk' is not one of rgb, grayscale"):
        load(root, color_mode="cmyk")
    with pytest.raises(DataError, match="image_size=\\[64\\] must be \\[height, width\\]"):
        load(root, image_size=[64])
