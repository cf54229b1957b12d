"""The default data preparation: fit (or reload) the preprocessor and run the splits through it."""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

import numpy as np

from zoo.core.specs import REGRESSION
from zoo.data import features as feats
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.prepared import Prepared

log = logging.getLogger("zoo.data")
SPLITS = ("train", "validation", "test")


def raw_features(info: DatasetInfo) -> list[dict[str, Any]]:
    """The dataset's raw inputs: its named columns, else one tensor of its input shape."""
    return info.features or [feats.tensor(info.input_shape, info.input_dtype)]


def target_stats(train: Any) -> dict[str, float]:
    """Mean and standard deviation of the training split's regression target, in one pass."""
    from zoo.data.stats import TableStats

    stats = TableStats([])
    for _, label, *_ in train.batch(4096):
        stats.add({}, np.asarray(label))
    return stats.target_result()


def prepare_splits(splits: RawSplits, dataset_cfg: Any, run: Any, fit: bool) -> Prepared:
    """Fit the preprocessor on the training split (`fit`) or reload the run's; map every split.
    Returns their `Prepared` form; `splits` are left as they are."""
    from zoo.preprocessing.assemble import load_preprocessor, preprocess, save_preprocessor
    from zoo.preprocessing.fit import fit_preprocessor

    info = copy.deepcopy(splits.info)
    if fit:
        features = raw_features(info)
        stats = splits.stats or {}  # a streaming source computed them as it read the training rows
        preprocessor = fit_preprocessor(features, splits.train, scale=bool(dataset_cfg.normalize),
                                        stats=stats.get("features"))
        info.features = features
        info.input_shape = tuple(int(d) for d in preprocessor.output.shape[1:])
        info.input_dtype = "float32"
        if info.task == REGRESSION:
            info.target = stats.get("target") or target_stats(splits.train)
            log.info("regression target: mean %.6g, std %.6g on the training split (the network "
                     "learns it standardised; predictions are in the data's units)",
                     info.target["mean"], info.target["std"])
        save_preprocessor(preprocessor, run.path)
        info.save(run.dataset_info)
    else:
        info = DatasetInfo.load(run.dataset_info)
        preprocessor = load_preprocessor(run.path)
    raw = {split: getattr(splits, split) for split in SPLITS}
    batches = splits.batches or {}
    mapped = {split: preprocess(raw[split], preprocessor, info.features, batches.get(split),
                                regression=info.task == REGRESSION) for split in SPLITS}
    return Prepared(**mapped, info=info, preprocessor=preprocessor, raw=raw)


def as_float_images(splits: RawSplits) -> RawSplits:
    """For families that scale their own inputs (GAN, VAE): images of any size and dtype as float32
    at the dataset's `image_size` (`Resizing`, as the preprocessor would), raw features dropped.
    Returns new splits; `splits` are left as they are."""
    import keras

    info = splits.info
    if not info.features or len(info.features) != 1 or not info.features[0].get("resize"):
        return splits
    height, width = info.features[0]["resize"]
    resize = keras.layers.Resizing(height, width, interpolation="bilinear")

    def to_float(image: Any, *rest: Any) -> tuple:
        return (resize(keras.ops.cast(image, "float32")), *rest)

    info = dataclasses.replace(copy.deepcopy(info), features=None, input_dtype="float32")
    return dataclasses.replace(splits, info=info,
                               **{split: getattr(splits, split).map(to_float) for split in SPLITS})
