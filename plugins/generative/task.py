"""The generative roles both families build on: data scaled to a fixed range, a generative loss,
the domain classifier, Frechet scores against a held-out split."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np

from zoo.sdk import (
    GENERATIVE,
    DataPreparer,
    DatasetInfo,
    Evaluator,
    Prepared,
    RawSplits,
    Scaling,
    Training,
    ZooError,
)

log = logging.getLogger("zoo.train")
CLASSIFIER_FILE = "domain_classifier.keras"


def value_bounds(train: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel minimum and maximum over the training split."""
    low, high = None, None
    for features, _ in train.batch(1024):
        flat = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
        low = flat.min(0) if low is None else np.minimum(low, flat.min(0))
        high = flat.max(0) if high is None else np.maximum(high, flat.max(0))
    return low, high


class ScaledData(DataPreparer):
    """Features scaled linearly so the training split spans `value_range` (its `info.scaling`)."""

    value_range: tuple[float, float] = (-1.0, 1.0)

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        """Scale features linearly so the training split spans `value_range` (saved as `info.scaling`)."""
        from zoo.sdk import as_float_images

        splits = as_float_images(splits)
        if not fit:
            info = DatasetInfo.load(self.run.dataset_info)
            return Prepared(splits.train, splits.validation, splits.test, info)
        info = copy.deepcopy(splits.info)
        if info.modality not in ("image", "tabular"):
            raise ZooError(f"generative models need images or vectors, {info.name!r} is "
                           f"{info.modality}: pick an image or tabular dataset")
        low, high = value_bounds(splits.train)
        lo, hi = self.value_range
        std = np.maximum(high - low, 1e-7) / (hi - lo)
        info.scaling = Scaling(offset=(low - lo * std).tolist(), scale=std.tolist(),
                               value_range=list(self.value_range))
        info.save(self.run.dataset_info)
        return Prepared(splits.train, splits.validation, splits.test, info)


class GenerativeTraining(Training):
    """A generative loss (`trainer.loss`, else `default_loss`) and no metrics."""

    default_loss = "gan_bce"

    def check(self, info: DatasetInfo) -> None:
        name = self.loss_name(info)
        if GENERATIVE not in self.registry.loss(name).tasks:
            raise ZooError(f"trainer.loss={name!r} is not a generative loss: use one of "
                           f"{', '.join(self.losses())} (or leave trainer.loss unset)")

    def losses(self) -> list[str]:
        registry = self.registry
        return [n for n in registry.names("loss") if GENERATIVE in registry.loss(n).tasks]

    def loss_name(self, info: DatasetInfo) -> str:
        return self.cfg.trainer.loss or self.default_loss

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return []


def split_arrays(prepared: Prepared, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """A scaled split as arrays (the training split: the domain classifier's data)."""
    from zoo_plugins.generative import quality

    from zoo.sdk import eval_stream

    return quality.to_arrays(eval_stream(getattr(prepared, split), prepared.info, 256, cache=False))


class GenerativeEvaluator(Evaluator):
    """Frechet scores of samples against a held-out split, through the domain classifier."""

    value_range: tuple[float, float] = (-1.0, 1.0)

    def reference_arrays(self, real: np.ndarray, prepared: Prepared) -> np.ndarray:
        """The split every Frechet distance is measured against: one that neither the generator
        nor the domain classifier trained on (validation; test when `real` is the validation split)."""
        reference = split_arrays(prepared, "validation")[0]
        if reference.shape == real.shape and np.array_equal(reference, real):
            reference = split_arrays(prepared, "test")[0]
        return reference

    def quality(self, samples: np.ndarray, real: np.ndarray, prepared: Prepared) -> dict[str, float]:
        """Frechet distance and confidence of `samples`, with real and noise anchors, all against
        a held-out reference split of `prepared` (so real held-out data is the floor)."""
        from zoo_plugins.generative import quality

        info = prepared.info
        reference = self.reference_arrays(real, prepared)
        if not info.num_classes:  # no labels to train a classifier: compare raw features
            flat = {k: v.reshape(len(v), -1).astype(np.float64) for k, v in
                    {"": samples, "_real": real, "_noise": np.random.default_rng(0).uniform(
                        *self.value_range, size=real.shape)}.items()}
            ref = reference.reshape(len(reference), -1).astype(np.float64)
            return {f"{metric}{k}": value for k, v in flat.items() for metric, value in
                    (("frechet_distance", quality.frechet_distance(v, ref)),
                     ("diversity", quality.diversity(v)))}
        x, y = split_arrays(prepared)
        cache = quality.classifier_cache(x, y, self.value_range, self.cfg.trainer.seed)
        classifier = quality.domain_classifier(x, y, info.num_classes, cache,
                                                  seed=self.cfg.trainer.seed)
        classifier.save(Path(self.run.path) / CLASSIFIER_FILE)
        return quality.quality_metrics(classifier, reference, samples, real, self.value_range)

    def headline(self, info: DatasetInfo) -> str:
        return "frechet_distance"
