"""What a VAE exports: its encoder (data in, `z_mean` and `z_log_var` out) and its decoder (latent in,
reconstruction mean in the data range out), each a bundle of its own."""

from __future__ import annotations

from typing import Any

import numpy as np
from zoo_plugins.generative.export import latent_sampler, samples_outputs, to_data_range

from zoo.sdk import ExportPart, sample_arrays


def encoder_part(model: Any, cfg: Any, splits: Any) -> ExportPart:
    """The encoder, its input scaled from the data range inside the exported graph."""
    import keras
    import tensorflow as tf

    info = splits.info
    source = model.encoder.inputs[0]
    name = source.name.split(":")[0]
    data = keras.Input(tuple(source.shape[1:]), name=name)
    std, mean = np.asarray(info.scaling.scale, np.float32), np.asarray(info.scaling.offset, np.float32)
    scaled = keras.layers.Rescaling(1.0 / std, -mean / std, name="from_data_range")(data)
    z_mean, z_log_var = model.encoder(scaled)
    exported = keras.Model(data, {"z_mean": z_mean, "z_log_var": z_log_var}, name="encoder")
    specs = [tf.TensorSpec((None, *source.shape[1:]), tf.float32, name=name)]

    def sample(split: str, limit: int) -> tuple[list[np.ndarray], None]:
        (normalised,), _ = sample_arrays(getattr(splits, split), info, specs, limit)
        return [(normalised * std + mean).astype(np.float32)], None  # back to the data's units

    outputs = {"kind": "latent", "names": ["z_mean", "z_log_var"], "latent_dim": model.latent_dim}
    return ExportPart("encoder", exported, specs, sample, outputs,
                      description="VAE encoder: examples in the data range in, z_mean and z_log_var out")


def decoder_part(model: Any, cfg: Any, splits: Any, value_range: tuple[float, float]) -> ExportPart:
    """The decoder, its reconstruction mean rescaled to the data range inside the exported graph."""
    import keras
    import tensorflow as tf

    info = splits.info
    latent = keras.Input((model.latent_dim,), name="latent")
    exported = keras.Model(latent, to_data_range(info)(model.decoder(latent)), name="decoder")
    specs = [tf.TensorSpec((None, model.latent_dim), tf.float32, name="latent")]
    outputs = samples_outputs(info, value_range) | {"conditional": False}
    return ExportPart("decoder", exported, specs, latent_sampler(model.latent_dim, cfg.trainer.seed, None),
                      outputs, input_kind="latent", tolerance_scale=max(1.0, *map(abs, outputs["range"])),
                      description="VAE decoder: latent vectors in, data-range reconstruction means out")
