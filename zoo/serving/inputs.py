"""Read prediction inputs: CSV rows, a folder of images (or one image), text lines."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: Path, feature_names: list[str] | None, width: int) -> tuple[list[str], np.ndarray]:
    """Rows of a CSV file as features: the training feature columns by header name, else all columns."""
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        raise DataError(f"{path} holds no rows: give one example per line")
    header = None if all(_is_number(c) for c in rows[0]) else rows[0]
    body = rows[1:] if header else rows
    columns = list(range(len(rows[0])))
    if header and feature_names and set(feature_names) <= set(header):
        columns = [header.index(name) for name in feature_names]
    if len(columns) != width:
        names = f" ({', '.join(feature_names)})" if feature_names else ""
        raise DataError(f"{path} has {len(columns)} columns, the model takes {width} features{names}: "
                        "give a header naming them or exactly those columns")
    try:
        data = np.asarray([[float(row[c]) for c in columns] for row in body], np.float32)
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}: every row needs {width} numbers ({exc})") from exc
    return [str(i + 1) for i in range(len(body))], data


def read_images(path: Path, shape: list[int]) -> tuple[list[str], np.ndarray]:
    """Images resized to the model's (height, width), grey or RGB by its channel count."""
    from PIL import Image

    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}: pass a folder of image files")
    height, width, channels = shape
    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                image = image.resize((width, height), Image.BILINEAR)
                arrays.append(np.asarray(image, np.float32).reshape(height, width, channels))
        except OSError as exc:
            raise DataError(f"cannot read image {file}: {exc}") from exc
    names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
    return names, np.stack(arrays)


def read_inputs(path: Path, bundle: Any) -> tuple[list[str], list[np.ndarray]]:
    """Row names and model inputs read from `path` in the form the bundle's modality needs."""
    if not path.exists():
        raise DataError(f"input {path} does not exist: pass a CSV file, an image folder or a text file")
    modality, shape = bundle.meta["modality"], bundle.inputs[0]["shape"][1:]
    if modality == "image":
        names, data = read_images(path, shape)
    elif modality in ("tabular", "sequence") and path.suffix.lower() in (".csv", ".txt", ".tsv"):
        names, data = read_csv(path, bundle.dataset.get("feature_names"), int(np.prod(shape)))
        data = data.reshape(-1, *shape)
    else:
        raise DataError(f"cannot read {path} for a {modality} model: give "
                        + ("a folder of images" if modality == "image" else "a .csv file of feature rows")
                        + (" (text bundles need the family's tokenizer, which this bundle does not hold)"
                           if modality == "text" else ""))
    return names, [data]
