"""TensorFlow Datasets by name, read from `cfg.data_dir`; fails fast when offline.

Plain TFDS retries a download for minutes without network, so an HTTPS probe with a hard
time limit decides first whether downloading is worth trying.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from zoo.core.errors import DataError, close_matches, first_line
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.features import tensor
from zoo.data.splits import check_fraction

DOWNLOAD_URL = "https://storage.googleapis.com/"  # TFDS's GCS mirror and many dataset URLs
PROBE_TIMEOUT = 3.0  # seconds for the request; the probe thread is joined within 5 s


def import_tfds() -> Any:
    """Import tensorflow_datasets (after TensorFlow, with its logging turned down)."""
    import_tensorflow()
    import tensorflow_datasets as tfds

    return tfds


def load(cfg: Any, seed: int) -> RawSplits:
    """Train/validation/test of the TFDS dataset `cfg.name` (`seed` is unused: TFDS splits are
    fixed)."""
    tfds = import_tfds()
    check_known(tfds, cfg.name)
    splits = split_names(cfg)
    datasets, builder_info = load_splits(tfds, cfg, list(splits.values()))
    info = describe(tfds, cfg, builder_info)
    parse, autotune = converter(cfg, info), import_tensorflow().data.AUTOTUNE
    datasets = {split: dataset.map(parse, num_parallel_calls=autotune)
                for split, dataset in zip(splits, datasets, strict=True)}
    if getattr(cfg, "limit", None):
        datasets["train"] = datasets["train"].take(int(cfg.limit))
    for split, dataset in datasets.items():
        info.num_examples[split] = count(dataset, builder_info, splits[split])
    info.extra["splits"] = splits
    return RawSplits(datasets["train"], datasets["validation"], datasets["test"], info)


def check_known(tfds: Any, name: str) -> None:
    """A DataError with close matches unless TFDS has a builder called `name`."""
    base = name.split("/")[0]
    namespace, _, version = base.partition(":")
    if version and not re.fullmatch(r"[\d.*]+", version):
        return  # a community dataset `namespace:name`: let TFDS resolve it
    known = tfds.list_builders(with_community_datasets=False)
    if namespace not in known:
        matches = close_matches(namespace, known)
        hint = f"did you mean {', '.join(repr(m) for m in matches)}? " if matches else ""
        raise DataError(f"unknown TFDS dataset {name!r}: {hint}(catalogue: "
                        "https://www.tensorflow.org/datasets/catalog/overview)")


def split_names(cfg: Any) -> dict[str, str]:
    """TFDS split strings for train/validation/test; validation carved from train if not given."""
    train, test = cfg.train_split, cfg.test_split
    if getattr(cfg, "validation_split", None):
        return {"train": train, "validation": cfg.validation_split, "test": test}
    keep = round(100 * (1 - check_fraction("val_fraction", cfg.val_fraction)))
    if not 0 < keep < 100:  # TFDS cannot read an empty slice
        raise DataError(f"dataset.val_fraction={cfg.val_fraction} leaves no TFDS validation or "
                        "training data: use 0.01..0.99 or set dataset.validation_split")
    return {"train": f"{train}[:{keep}%]", "validation": f"{train}[{keep}%:]", "test": test}


def load_splits(tfds: Any, cfg: Any, splits: list[str]) -> tuple[list[Any], Any]:
    """The datasets of `splits` and the builder's info; downloads only when possible."""
    kwargs = {"split": splits, "data_dir": cfg.data_dir, "as_supervised": False,
              "with_info": True}
    try:
        return tfds.load(cfg.name, download=False, **kwargs)
    except AssertionError:  # TFDS: "could not find data in <data_dir>"
        pass
    except (ValueError, KeyError) as error:
        raise split_error(cfg, splits, error) from error
    check_can_download(tfds, cfg)
    try:
        return tfds.load(cfg.name, download=True, **kwargs)
    except Exception as error:
        raise DataError(f"downloading TFDS dataset {cfg.name!r} into {data_dir(tfds, cfg)} "
                        f"failed ({first_line(error)}): {build_hint(cfg.name)}") from error


def check_can_download(tfds: Any, cfg: Any) -> None:
    """A DataError explaining how to provide the data unless it can be downloaded here."""
    if not getattr(cfg, "download", True):
        reason = "dataset.download=false"
    elif not network_reachable():
        reason = f"no network: {DOWNLOAD_URL} is unreachable"
    else:
        return
    raise DataError(f"TFDS dataset {cfg.name!r} is not in data dir {data_dir(tfds, cfg)} and "
                    f"cannot be downloaded here ({reason}): {build_hint(cfg.name)}")


def build_hint(name: str) -> str:
    """How to provide a TFDS dataset on a machine without network."""
    return (f"on a connected machine run `tfds build {name} --data_dir DIR`, copy DIR to "
            "this machine and set dataset.data_dir=DIR")


def data_dir(tfds: Any, cfg: Any) -> str:
    """The data dir TFDS reads: `cfg.data_dir`, else its default."""
    return str(cfg.data_dir or tfds.core.constants.DATA_DIR)


def network_reachable(url: str = DOWNLOAD_URL, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether an HTTP(S) request to `url` gets any answer; bounded even if DNS hangs.

    A full request (TLS included, proxies honoured like TFDS's downloads) rather than a bare
    TCP connect, which sandboxes that accept every connection would report as online.
    """
    import urllib.error
    import urllib.request

    result: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
            result.append(True)
        except urllib.error.HTTPError:  # the server answered (with an error status)
            result.append(True)
        except (OSError, ValueError):  # URLError, timeouts, TLS and connection errors
            result.append(False)

    thread = threading.Thread(target=probe, name="zoo-network-probe", daemon=True)
    thread.start()
    thread.join(timeout + 2.0)
    return bool(result and result[0])


def split_error(cfg: Any, splits: list[str], error: Exception) -> DataError:
    """The DataError for splits TFDS cannot read."""
    return DataError(f"TFDS dataset {cfg.name!r} cannot load splits {', '.join(splits)} "
                     f"({first_line(error)}): set dataset.train_split, dataset.validation_split "
                     "or dataset.test_split")


def describe(tfds: Any, cfg: Any, builder_info: Any) -> DatasetInfo:
    """The DatasetInfo of a TFDS dataset from its features (without example counts)."""
    features = builder_info.features
    for key, setting in ((cfg.image_key, "image_key"), (cfg.label_key, "label_key")):
        if key not in features:
            raise DataError(f"TFDS dataset {cfg.name!r} has no feature {key!r} (features: "
                            f"{', '.join(features.keys())}): set dataset.{setting}")
    label = features[cfg.label_key]
    names = list(label.names) if isinstance(label, tfds.features.ClassLabel) else None
    stored = tuple(features[cfg.image_key].shape)
    shape = input_shape(cfg, stored)
    image = len(shape) == 3
    raw = ([tensor((None, None, stored[2]), tf_dtype_name(features[cfg.image_key]), name="image",
                   resize=list(shape[:2]))] if image else None)
    return DatasetInfo(
        name=cfg.name,
        task=CLASSIFICATION if names else REGRESSION,
        modality="image" if len(shape) == 3 else "tabular",
        input_shape=shape,
        num_classes=len(names) if names else None,
        class_names=names,
        features=raw,
        extra={"tfds_version": str(builder_info.version)},
    )


def tf_dtype_name(feature: Any) -> str:
    """The stored dtype of a TFDS feature (`uint8` for images)."""
    return import_tensorflow().as_dtype(feature.dtype).name


def input_shape(cfg: Any, shape: tuple[Any, ...]) -> tuple[int, ...]:
    """The feature shape after the optional resize to `cfg.image_size`; fully known."""
    size = getattr(cfg, "image_size", None)
    if size:
        if len(shape) != 3 or len(size) != 2:
            raise DataError(f"dataset.image_size={list(size)} needs [height, width] and images "
                            f"of rank 3, but {cfg.image_key!r} has shape {shape}")
        shape = (int(size[0]), int(size[1]), shape[2])
    if any(d is None for d in shape):
        raise DataError(f"{cfg.image_key!r} of TFDS dataset {cfg.name!r} has variable shape "
                        f"{shape}: set dataset.image_size=[height,width]")
    return tuple(int(d) for d in shape)


def converter(cfg: Any, info: DatasetInfo) -> Any:
    """A map function: TFDS example dict -> (features, int32 or float32 label); images stay raw (the
    model's `Resizing` brings them to `dataset.image_size`), other features become float32."""
    tf = import_tensorflow()
    label_type = tf.int32 if info.task == CLASSIFICATION else tf.float32
    image_key, label_key = str(cfg.image_key), str(cfg.label_key)
    raw_image = bool(info.features)

    def parse(example: dict[str, Any]) -> tuple[Any, Any]:
        features = example[image_key] if raw_image else tf.cast(example[image_key], tf.float32)
        return features, tf.cast(example[label_key], label_type)

    return parse


def count(dataset: Any, builder_info: Any, split: str) -> int:
    """Examples in `dataset`: its cardinality, else the builder's count for `split`."""
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    try:
        return int(builder_info.splits[split].num_examples)
    except (KeyError, ValueError):
        return -1
