"""What a GAN exports: its generator, latent noise (and a class id) in, samples in the data range out."""

from __future__ import annotations

from typing import Any

from zoo_plugins.generative.export import latent_sampler, samples_outputs, to_data_range

from zoo.sdk import ExportPart


def generator_part(model: Any, cfg: Any, splits: Any, value_range: tuple[float, float]) -> ExportPart:
    """The generator, its tanh output rescaled to the data range inside the exported graph."""
    import keras
    import tensorflow as tf

    info = splits.info
    latent = keras.Input((model.latent_dim,), name="latent")
    specs = [tf.TensorSpec((None, model.latent_dim), tf.float32, name="latent")]
    if model.conditional:
        label = keras.Input((), dtype="int32", name="label")
        specs.append(tf.TensorSpec((None,), tf.int32, name="label"))
        inputs: Any = {"latent": latent, "label": label}
        generated = model.generator([latent, label])
    else:
        inputs, generated = latent, model.generator(latent)
    samples = to_data_range(info)(generated)
    exported = keras.Model(inputs, samples, name="generator")
    classes = info.num_classes if model.conditional else None
    outputs = samples_outputs(info, value_range) | {"conditional": model.conditional}
    sample = latent_sampler(model.latent_dim, cfg.trainer.seed, classes)
    return ExportPart("generator", exported, specs, sample, outputs, input_kind="latent",
                      tolerance_scale=max(1.0, *map(abs, outputs["range"])),
                      description="GAN generator: latent noise (and a class id) in, data-range samples out")
