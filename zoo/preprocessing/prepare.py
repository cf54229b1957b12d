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
    encoded = encoded_batches(splits, info, bool(dataset_cfg.normalize))
    if encoded is not None:  # record batches preprocessed in numpy as they are read
        from zoo.data.table_stream import unbatched

        mapped = {split: unbatched(encoded[split], int(raw[split].cardinality())) for split in SPLITS}
        return Prepared(**mapped, info=info, preprocessor=preprocessor, raw=raw, batches=encoded)
    batches = splits.batches or {}
    mapped = {split: preprocess(raw[split], preprocessor, info.features, batches.get(split),
                                regression=info.task == REGRESSION) for split in SPLITS}
    return Prepared(**mapped, info=info, preprocessor=preprocessor, raw=raw)


def encoded_batches(splits: RawSplits, info: DatasetInfo, scale: bool) -> dict[str, Any] | None:
    """Split -> its record batches as `(network input, label)` computed in numpy
    (`zoo.preprocessing.table_numpy`), or None when the source gives no record batches or numpy
    cannot compute a column as the layers do."""
    from zoo.preprocessing.table_numpy import numpy_encoder

    if not splits.sources or not feats.is_table(info.features):
        return None
    encode = numpy_encoder(info.features, scale)
    if encode is None:
        return None
    import tensorflow as tf

    regression = info.task == REGRESSION
    label = (tf.TensorSpec((None, 1), tf.float32) if regression
             else tf.TensorSpec((None,), splits.train.element_spec[1].dtype))
    signature = (tf.TensorSpec((None, int(info.input_shape[0])), tf.float32), label)

    def dataset(source: Any) -> Any:
        def batches():
            for columns, labels in source():
                labels = np.asarray(labels, dtype=signature[1].dtype.as_numpy_dtype)
                yield encode(columns), labels.reshape(-1, 1) if regression else labels

        return tf.data.Dataset.from_generator(batches, output_signature=signature)

    return {split: dataset(splits.sources[split]) for split in SPLITS}


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
