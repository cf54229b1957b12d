"""VAE callbacks: KL warm-up, and PNGs of reconstructions, samples and a latent interpolation."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from zoo_plugins.generative import quality as generative

GRID_SAMPLES = 64
INTERPOLATION_STEPS = 8


class KLWarmup(keras.callbacks.Callback):
    """Set the KL weight to min(1, epoch / warmup_epochs) at the start of each epoch."""

    def __init__(self, warmup_epochs: int):
        super().__init__()
        self.warmup_epochs = warmup_epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        weight = min(1.0, epoch / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0
        self.model.kl_weight.assign(weight)


class VAEImages(keras.callbacks.Callback):
    """Per epoch `samples/epoch_NNN_{reconstructions,samples}.png`; at the end an interpolation."""

    def __init__(self, run_path: Path, inputs: np.ndarray, seed: int):
        super().__init__()
        self.run_path, self.folder = Path(run_path), Path(run_path) / "samples"
        self.inputs, self.seed = inputs, seed

    def on_train_begin(self, logs: dict | None = None) -> None:
        rng = np.random.default_rng(self.seed)  # the same latent batch every epoch
        self.z = rng.normal(size=(GRID_SAMPLES, self.model.latent_dim)).astype(np.float32)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        prefix = self.folder / f"epoch_{epoch + 1:03d}"
        recon = np.asarray(self.model(self.inputs))
        pairs = np.stack([self.inputs, recon], 1).reshape(-1, *self.inputs.shape[1:])  # input, recon
        generative.save_grid(pairs, prefix.with_name(prefix.name + "_reconstructions.png"), cols=8)
        generative.save_grid(np.asarray(self.model.decoder(self.z)),
                             prefix.with_name(prefix.name + "_samples.png"))

    def on_train_end(self, logs: dict | None = None) -> None:
        self.model.decoder.save(self.run_path / "decoder.keras")
        self.model.encoder.save(self.run_path / "encoder.keras")
        generative.save_grid(interpolation(self.model, self.inputs), self.folder / "interpolation.png",
                  cols=INTERPOLATION_STEPS)


def interpolation(model: keras.Model, inputs: np.ndarray, rows: int = 4) -> np.ndarray:
    """Decodings along straight lines between the latent means of pairs of inputs."""
    means = np.asarray(model.encoder(inputs[:2 * rows])[0])
    t = np.linspace(0.0, 1.0, INTERPOLATION_STEPS)[None, :, None]
    z = means[0::2, None] * (1 - t) + means[1::2, None] * t
    return np.asarray(model.decoder(z.reshape(-1, means.shape[1]).astype(np.float32)))
