"""The user's images: one sub-folder per class, class names the sorted sub-folder names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.features import tensor
from zoo.data.splits import label_array, require_classes, split_arrays, to_raw_splits

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DECODABLE = ("PNG", "JPEG", "MPO", "BMP", "GIF")  # PIL formats tf.io.decode_image reads
COLOR_MODES = {"rgb": 3, "grayscale": 1}


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded, stratified train/validation/test splits of the images under `cfg.path`."""
    size = image_size(cfg.image_size)
    channels = color_channels(cfg.color_mode)
    classes, files, ids = scan(Path(cfg.path))
    require_classes(len(classes), f"image folder {cfg.path}", "add a sub-folder per class")
    test = None
    if getattr(cfg, "test_path", None):
        _, test_files, test_ids = scan(Path(cfg.test_path), classes)
        test = np.array(test_files), label_array(test_ids, CLASSIFICATION)
    arrays = split_arrays(np.array(files), label_array(ids, CLASSIFICATION), cfg, seed,
                          stratify=True, test=test)
    info = DatasetInfo(
        name=getattr(cfg, "name", "") or Path(cfg.path).name,
        task=CLASSIFICATION,
        modality="image",
        input_shape=(size[0], size[1], channels),
        num_classes=len(classes),
        class_names=classes,
        features=[tensor((None, None, channels), "uint8", name="image", resize=size)],
        extra={"path": str(cfg.path)},
    )
    return to_raw_splits(arrays, info, parse=decoder(channels))


def image_size(value: Any) -> list[int]:
    """`[height, width]` from `cfg.image_size`, checked."""
    size = list(value) if value is not None else []
    if len(size) != 2 or not all(isinstance(d, int) and d > 0 for d in size):
        raise DataError(f"dataset.image_size={size} must be [height, width] in pixels, "
                        "e.g. dataset.image_size=[64,64]")
    return size


def color_channels(mode: str) -> int:
    """Channels of a colour mode (rgb 3, grayscale 1)."""
    if mode not in COLOR_MODES:
        raise DataError(f"dataset.color_mode={mode!r} is not one of {', '.join(COLOR_MODES)}")
    return COLOR_MODES[mode]


def scan(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[str], list[int]]:
    """Class names, image files and class ids under `root`, every image checked with PIL.

    With `classes` (the training classes), sub-folders must be among them.
    """
    found = class_folders(root)
    if classes is not None:
        extra = [name for name in found if name not in classes]
        if extra:
            raise DataError(f"class folder {root / extra[0]} is not a training class "
                            f"({', '.join(classes)}): remove it or add it to training")
    classes = classes or found
    files, ids = [], []
    for name in found:
        images = image_files(root / name)
        files += images
        ids += [classes.index(name)] * len(images)
    for file in files:
        verify(file)
    return classes, files, ids


def class_folders(root: Path) -> list[str]:
    """Sorted names of the class sub-folders of `root`."""
    if not root.is_dir():
        raise DataError(f"image folder {root} not found (working directory {os.getcwd()}): "
                        "check dataset.path")
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise DataError(f"image folder {root} is empty: put one sub-folder of images per class "
                        "in it")
    names = sorted(p.name for p in entries if p.is_dir())
    if not names:
        raise DataError(f"image folder {root} has no class sub-folders: put the images of each "
                        "class in a sub-folder named after the class")
    return names


def image_files(folder: Path) -> list[str]:
    """Sorted image files (by extension, any depth) under a class folder; at least one."""
    files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS
                   and p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"class folder {folder} has no images ({', '.join(EXTENSIONS)}): add "
                        "images or remove the folder")
    return files


def verify(file: str) -> None:
    """A DataError naming `file` unless PIL can read it in a format TensorFlow decodes."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            kind = image.format
            image.verify()
    except Exception as error:  # PIL raises many types for a broken file
        raise DataError(f"cannot read image {file} ({type(error).__name__}: {error}): "
                        "replace or delete the file") from error
    if kind not in DECODABLE:
        raise DataError(f"image {file} is stored as {kind}, which TensorFlow cannot decode: "
                        "convert it to PNG or JPEG")


def decoder(channels: int) -> Any:
    """A tf.data map function: `(file, label) -> (uint8 image (h, w, channels), label)` at the file's
    own size: the model's `Resizing` layer brings it to `dataset.image_size`, in training and in
    every export alike."""
    tf = import_tensorflow()

    def decode(data: Any, depth: int) -> Any:
        return tf.io.decode_image(data, channels=depth, expand_animations=False)

    def grey(data: Any) -> Any:  # GIF and BMP decode only to 3 channels
        rgb_only = tf.logical_or(tf.strings.substr(data, 0, 3) == b"GIF",
                                 tf.strings.substr(data, 0, 2) == b"BM")
        return tf.cond(rgb_only, lambda: tf.image.rgb_to_grayscale(decode(data, 3)),
                       lambda: decode(data, 1))

    def parse(file: Any, label: Any) -> tuple[Any, Any]:
        data = tf.io.read_file(file)
        image = decode(data, 3) if channels == 3 else grey(data)
        return tf.ensure_shape(image, (None, None, channels)), label

    return parse
