"""Samples of a trained generator: a fixed latent batch drawn as a PNG grid after every epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from zoo_plugins.generative import quality as generative

from zoo.sdk import DatasetInfo

GRID_SAMPLES = 64
GENERATOR_FILE = "generator.keras"


def generate(model: Any, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """`n` samples in model space ([-1, 1]); class-conditional models use `labels` (cycled)."""
    z = np.random.default_rng(seed).normal(size=(n, model.latent_dim)).astype(np.float32)
    if model.conditional:
        labels = np.resize(np.asarray(labels).reshape(-1).astype(np.int32), n)
        return np.asarray(model.generator.predict([z, labels], batch_size=256, verbose=0))
    return np.asarray(model.generator.predict(z, batch_size=256, verbose=0))


def to_unit(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    lo, hi = value_range
    return (images - lo) / (hi - lo)


class GeneratorSamples(keras.callbacks.Callback):
    """`samples/epoch_NNN.png` from the same latent batch each epoch; `generator.keras` at the end."""

    def __init__(self, run_path: Path, info: DatasetInfo, seed: int):
        super().__init__()
        self.folder, self.info, self.seed = Path(run_path) / "samples", info, seed
        self.run_path = Path(run_path)
        self.labels = np.arange(GRID_SAMPLES) % (info.num_classes or 1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        images = generate(self.model, GRID_SAMPLES, self.labels, self.seed)
        generative.save_grid(to_unit(images, self.info.scaling.value_range),
                             self.folder / f"epoch_{epoch + 1:03d}.png")

    def on_train_end(self, logs: dict | None = None) -> None:
        self.model.generator.save(self.run_path / GENERATOR_FILE)
