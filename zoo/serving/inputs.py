"""Read prediction inputs: CSV rows, a folder of images (or one image), texts, latent vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError, first_line
from zoo.data.csv_data import csv_rows, is_float, sniff_separator
from zoo.data.files import read_utf8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_csv(path: Path, feature_names: list[str] | None, width: int) -> tuple[list[str], np.ndarray]:
    """Rows of a CSV file as features: the training feature columns by header name, else all columns."""
    rows = _csv_rows(path, read_utf8(path), ",")
    if not rows:
        raise DataError(f"{path} holds no rows: give one example per line")
    header = None if all(is_float(c) for c in rows[0]) else rows[0]
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


def column_array(values: list[str], spec: dict[str, Any], where: str, first_line: int) -> np.ndarray:
    """One raw input from a column's cells: float32 (blanks NaN, imputed in the model) or strings,
    blanks and bad numbers judged as `zoo.data.csv_data` judges training files."""
    from zoo.data.csv_data import FLOAT32_MAX, MISSING, is_number

    cells = [v.strip() for v in values]
    if spec["dtype"] == "string":
        return np.array(["" if v.lower() in MISSING else v for v in cells], dtype=object).reshape(-1, 1)
    out = np.empty(len(cells), np.float32)
    for i, value in enumerate(cells):
        if value.lower() in MISSING:
            out[i] = np.nan
        elif is_number(value) and abs(float(value)) <= FLOAT32_MAX:
            out[i] = float(value)
        else:
            raise DataError(f"{where}, line {first_line + i}: column {spec['column']!r} takes numbers, got "
                            f"{value!r}: fix the value or leave the cell blank")
    return out.reshape(-1, 1)


def read_table(path: Path, inputs: list[dict[str, Any]]) -> tuple[list[str], list[np.ndarray]]:
    """Rows of a CSV file as the bundle's raw column inputs, matched by header name (any order; other
    columns, such as the target, are ignored)."""
    rows = _csv_rows(path, read_utf8(path))
    if len(rows) < 2:
        raise DataError(f"{path} holds no rows under a header: give a header naming the columns and one "
                        "example per row")
    header = [c.strip() for c in rows[0]]
    missing = [i["column"] for i in inputs if i["column"] not in header]
    if missing:
        raise DataError(f"{path} has no column {missing[0]!r}: the model takes columns "
                        f"{', '.join(i['column'] for i in inputs)} (blank cells are fine)")
    body = rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"line {number} of {path} has {len(row)} fields but the header has {len(header)}")
    arrays = [column_array([row[header.index(i["column"])] for row in body], i, str(path), 2) for i in inputs]
    return [str(i + 1) for i in range(len(body))], arrays


MAX_IMAGE_PIXELS = 25_000_000  # 5000 x 5000: larger images are refused before they are decoded


def image_pixels(image: Any, shape: list[Any], where: str) -> np.ndarray:
    """The one image rule of `zoo predict` and `zoo serve`: an opened PIL image as (height, width,
    channels) pixels, converted to the model's channels (grey or RGB, alpha dropped, as training's
    `decode_image`); a model that resizes inside (`null` height and width) takes any size up to
    MAX_IMAGE_PIXELS, a fixed-size model its own size only (never resized: refused)."""
    height, width, channels = shape
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise DataError(f"{where} is {image.width}x{image.height} = {image.width * image.height:,} pixels, "
                        f"the limit is {MAX_IMAGE_PIXELS:,}: scale it down")
    if height is not None and (image.height, image.width) != (height, width):
        raise DataError(f"{where} is {image.width}x{image.height} pixels, the model takes {width}x{height}: "
                        "resize it, or retrain from an image folder (whose models take any size)")
    pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    return pixels.reshape(*pixels.shape[:2], channels)


def read_images(path: Path, shape: list[Any], dtype: str = "float32") -> tuple[list[str], list[np.ndarray]]:
    """Each image decoded as the model's channel count (grey or RGB, alpha dropped, as TensorFlow's
    `decode_image` does in training). A model that resizes inside (`null` height and width) gets
    every image at its own size; a fixed-size model gets images of exactly its size."""
    from PIL import Image

    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}: pass a folder of image files")
    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = image_pixels(image, shape, f"image {file}")
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"cannot read image {file}: {first_line(exc)}") from None
        arrays.append(pixels.astype(dtype))
    names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
    return names, arrays


def _csv_rows(path: Path, text: str, delimiter: str | None = None) -> list[list[str]]:
    """Rows of a CSV/TSV file (tab for .tsv, else the separator sniffed as training does); every CSV
    this module reads goes through `zoo.data.csv_data.csv_rows`, so a malformed one is one DataError
    naming the line. A row of blank cells is a row (an example whose inputs are all missing)."""
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_separator(text)
    return csv_rows(path, text, delimiter, blank_rows=True)[0]


def text_columns(path: Path, header: list[str], spec: dict[str, Any]) -> list[int]:
    """Indices of the text column (and the pair column): the training columns, `text`, or the only one."""
    want = 2 if spec.get("pairs") else 1
    trained = spec.get("columns") or []
    for names in (trained, ["text", "text_pair"][:want]):
        if len(names) >= want and set(names[:want]) <= set(header):
            return [header.index(n) for n in names[:want]]
    if len(header) == want:
        return list(range(want))
    expected = " and ".join(repr(n) for n in (trained or ["text", "text_pair"])[:want])
    raise DataError(f"{path} has columns {', '.join(header)}: the model reads {want} text column(s), "
                    f"name it {expected} in the header (or give a file of {want} column(s))")


def read_texts(path: Path, spec: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Texts to predict on: a .txt file (one per line, blank lines skipped, named by line number) or a
    CSV/TSV file with a header (named by row number); pairs for a sentence-pair model."""
    if path.is_dir():
        raise DataError(f"{path} is a folder: a text model reads a .txt file (one text per line) "
                        "or a .csv/.tsv file with a text column")
    content = read_utf8(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        rows = _csv_rows(path, content)
        if len(rows) < 2:
            raise DataError(f"{path} holds no rows under its header: give a header row and one text per row")
        columns = text_columns(path, rows[0], spec)
        texts = []
        for number, row in enumerate(rows[1:], start=2):
            if max(columns) >= len(row) or not all(row[c].strip() for c in columns):
                raise DataError(f"empty or missing text at line {number} of {path}: "
                                "fill it in or delete the row")
            texts.append(row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns))
        return [str(i) for i in range(1, len(texts) + 1)], texts
    if spec.get("pairs"):
        raise DataError(f"{path}: this model reads text pairs, give a .csv/.tsv file with two text columns")
    lines = [(number, line) for number, line in enumerate(content.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataError(f"{path} holds no text: give one text per line")
    return [str(n) for n, _ in lines], [line for _, line in lines]


def class_id(value: str, classes: list[str] | None, where: str) -> int:
    """A class given by name or by integer id."""
    if classes and value in classes:
        return classes.index(value)
    if value.isascii() and value.isdigit() and int(value) < len(classes or []):  # not '²' or '١'
        return int(value)
    raise DataError(f"{where}: unknown class {value!r}, expected one of {', '.join(classes or [])} "
                    "(or its index)")


def read_latents(source: str, bundle: Any, seed: int) -> tuple[list[str], list[np.ndarray]]:
    """Latent inputs of a generator or decoder: a count N (N standard-normal draws from `seed`, class ids
    cycling through the classes) or a CSV of latent vectors (a `label` column for a conditional one)."""
    dim = int(bundle.inputs[0]["shape"][-1])
    classes = bundle.class_names
    conditional = len(bundle.inputs) > 1
    path = Path(source)
    if not path.is_file() and source.strip().isascii() and source.strip().isdigit():
        n = int(source)
        if n < 1:
            raise DataError(f"input={source}: give a positive number of samples or a CSV of latent vectors")
        z = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
        labels = [(np.arange(n) % len(classes or [1])).astype(np.int32)] if conditional else []
        return [str(i) for i in range(1, n + 1)], [z, *labels]
    if not path.is_file():
        raise DataError(f"input={source}: give a number of samples to draw or a CSV file of "
                        f"{dim}-dimensional latent vectors")
    rows = _csv_rows(path, read_utf8(path))
    header = None if rows and all(is_float(c) for c in rows[0]) else (rows[0] if rows else None)
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path} holds no latent vectors: give one row of {dim} numbers per sample")
    label_column = header.index("label") if header and "label" in header else None
    if conditional and label_column is None:
        raise DataError(f"{path}: this generator is class-conditional, add a header with a 'label' column "
                        "(class name or id) beside the latent columns")
    latent_columns = [i for i in range(len(body[0])) if i != label_column]
    if len(latent_columns) != dim:
        raise DataError(f"{path} has {len(latent_columns)} latent columns, the model takes {dim}: "
                        f"give {dim} numbers per row")
    try:
        z = np.asarray([[float(row[i]) for i in latent_columns] for row in body], np.float32)
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}: every row needs {dim} numbers ({exc})") from None
    labels = ([np.asarray([class_id(row[label_column].strip(), classes, f"{path} row {i}")
                           for i, row in enumerate(body, start=1)], np.int32)] if conditional else [])
    return [str(i) for i in range(1, len(body) + 1)], [z, *labels]


def read_inputs(source: str | Path, bundle: Any, seed: int = 0
                ) -> tuple[list[str], list[np.ndarray], list[Any]]:
    """Row names, model inputs and (for text models) the texts, read from `source` in the form the
    bundle needs."""
    if bundle.input_kind == "latent":
        names, inputs = read_latents(str(source), bundle, seed)
        return names, inputs, []
    path = Path(source)
    if not path.exists():
        raise DataError(f"input {path} does not exist: pass a CSV file, an image folder or a text file")
    modality, shape = bundle.export.modality, bundle.inputs[0]["shape"][1:]
    if bundle.takes_text:
        names, texts = read_texts(path, bundle.text_spec)
        return names, bundle.encode_texts(texts), texts
    if all("column" in i for i in bundle.inputs):
        if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise DataError(f"cannot read {path}: this model takes the rows of a .csv file with the columns "
                            f"{', '.join(i['column'] for i in bundle.inputs)}")
        names, arrays = read_table(path, bundle.inputs)
        return names, arrays, []
    if modality == "image":
        names, images = read_images(path, shape, bundle.inputs[0]["dtype"])
        if shape[0] is None:
            return names, [images], []  # one array per image: sizes may differ
        data = np.stack(images)
    elif modality in ("tabular", "sequence") and path.suffix.lower() in (".csv", ".txt", ".tsv"):
        names, data = read_csv(path, bundle.dataset.get("feature_names"), int(np.prod(shape)))
        data = data.reshape(-1, *shape)
    else:
        raise DataError(f"cannot read {path} for a {modality} model: give "
                        + ("a folder of images" if modality == "image" else "a .csv file of feature rows")
                        + (" (text bundles need the family's tokenizer, which this bundle does not hold)"
                           if modality == "text" else ""))
    return names, [data], []
