"""Export parts that produce examples (a GAN generator, a VAE decoder): latent draws in, samples in
the data's units out."""

from __future__ import annotations

from typing import Any

import numpy as np

CHECK_SAMPLES = 512
SEEDS = {"test": 1, "train": 2}  # latent draws of the export check and of int8 calibration


def to_data_range(info: Any, name: str = "to_data_range") -> Any:
    """A layer taking model space back to the data's units: x * scale + offset (per channel)."""
    import keras

    scale, offset = np.asarray(info.scaling.scale, np.float32), np.asarray(info.scaling.offset, np.float32)
    return keras.layers.Rescaling(scale, offset, name=name)


def output_range(info: Any, value_range: tuple[float, float]) -> list[float]:
    """The data-range bounds of model outputs spanning `value_range` (lowest and highest channel)."""
    std, mean = np.asarray(info.scaling.scale, np.float64), np.asarray(info.scaling.offset, np.float64)
    lo, hi = value_range
    return [float(np.min(mean + lo * std)), float(np.max(mean + hi * std))]


def samples_outputs(info: Any, value_range: tuple[float, float]) -> dict[str, Any]:
    """`export.json` outputs of a part producing examples (a generator, a decoder)."""
    return {"kind": "samples", "shape": [None, *map(int, info.input_shape)],
            "range": output_range(info, value_range), "feature_names": info.feature_names,
            "class_names": info.class_names}


def latent_sampler(latent_dim: int, seed: int, classes: int | None) -> Any:
    """`sample(split, limit)` of standard-normal latent vectors (and class ids cycling 0..K-1)."""
    def sample(split: str, limit: int) -> tuple[list[np.ndarray], None]:
        n = min(limit, CHECK_SAMPLES)
        z = np.random.default_rng(seed + SEEDS[split]).normal(size=(n, latent_dim)).astype(np.float32)
        return ([z] if classes is None else [z, (np.arange(n) % classes).astype(np.int32)]), None

    return sample
