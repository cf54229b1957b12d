"""The training-data profile a bundle carries for drift monitoring: per-feature histograms.

`write_training_profile(bundle_dir, inputs, specs)` bins each feature of the training inputs into
deciles (numbers) or its most frequent values (strings) and writes `training_profile.json` beside
`export.json`. `zoo serve` bins live inputs the same way (`feature_values`, `bin_counts`) and
reports the population stability index (PSI) per feature. Numpy only: no TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.atomic import write_atomic

PROFILE_JSON = "training_profile.json"
BINS = 10
TOP_CATEGORIES = 20
MAX_ELEMENTS = 32  # wider inputs (images, token ids) are profiled by their per-example mean and std
OTHER = "__other__"


def feature_values(inputs: list[np.ndarray], specs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One 1-D array of values per feature: each element of a narrow input, or the mean and std of
    every example of a wide one; strings stay strings."""
    features: dict[str, np.ndarray] = {}
    for spec, x in zip(specs, inputs, strict=True):
        name = spec["name"]
        flat = np.asarray(x).reshape(len(x), -1)
        if flat.dtype.kind in "OSU":
            for j in range(flat.shape[1]):
                features[name if flat.shape[1] == 1 else f"{name}[{j}]"] = flat[:, j].astype(str)
            continue
        flat = flat.astype(np.float64)
        if flat.shape[1] > MAX_ELEMENTS:
            features[f"{name}:mean"], features[f"{name}:std"] = flat.mean(1), flat.std(1)
        else:
            for j in range(flat.shape[1]):
                features[name if flat.shape[1] == 1 else f"{name}[{j}]"] = flat[:, j]
    return features


def bin_counts(feature: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Counts of `values` in the feature's bins (`edges` between numeric bins, or `categories`
    and a last bin for any other value)."""
    if "categories" in feature:
        index = {c: i for i, c in enumerate(feature["categories"])}
        other = len(index)
        bins = np.fromiter((index.get(v, other) for v in values), np.int64, len(values))
        return np.bincount(bins, minlength=other + 1)
    bins = np.searchsorted(np.asarray(feature["edges"]), values, side="right")
    return np.bincount(bins, minlength=len(feature["edges"]) + 1)


def _numeric_feature(values: np.ndarray) -> dict[str, Any]:
    quantiles = np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1])
    feature: dict[str, Any] = {"kind": "numeric", "edges": np.unique(quantiles).tolist()}
    return feature


def _categorical_feature(values: np.ndarray) -> dict[str, Any]:
    kinds, counts = np.unique(values, return_counts=True)
    top = kinds[np.argsort(-counts, kind="stable")][:TOP_CATEGORIES]
    return {"kind": "categorical", "categories": top.tolist()}


def build_profile(inputs: list[np.ndarray], specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The profile of training inputs: per feature its bins and the fraction of examples in each."""
    features = {}
    for name, values in feature_values(inputs, specs).items():
        feature = _categorical_feature(values) if values.dtype.kind in "OSU" else _numeric_feature(values)
        counts = bin_counts(feature, values)
        feature["expected"] = (counts / max(counts.sum(), 1)).tolist()
        features[name] = feature
    return {"examples": int(len(inputs[0])) if inputs else 0, "bins": BINS, "features": features}


def write_training_profile(bundle_dir: str | Path, inputs: list[np.ndarray],
                           specs: list[dict[str, Any]]) -> Path:
    """Write `training_profile.json` for training-split `inputs` (raw, in signature order) of a bundle
    whose inputs are `specs` (export.json's `inputs`)."""
    path = Path(bundle_dir) / PROFILE_JSON
    write_atomic(path, json.dumps(build_profile(inputs, specs)) + "\n")
    return path


def load_profile(bundle_dir: str | Path) -> dict[str, Any] | None:
    """The bundle's training profile, or None for a bundle exported without one."""
    path = Path(bundle_dir) / PROFILE_JSON
    return json.loads(path.read_text()) if path.exists() else None
