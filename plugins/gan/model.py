"""DCGAN-style generator and discriminator for images, MLP ones for vectors; optional labels."""

from __future__ import annotations

from typing import Any

import keras

from zoo.sdk import DatasetInfo, ZooError


def _inputs(cfg: Any, info: DatasetInfo, shape: tuple[int, ...], name: str) -> tuple[Any, Any, Any]:
    """The model inputs (a list when conditional), the main input and the label embedding."""
    main = keras.Input(shape, name=name)
    if not cfg.conditional:
        return main, main, None
    if not info.num_classes:
        raise ZooError(f"model.conditional=true needs a labelled dataset, {info.name!r} has no "
                       "classes: set model.conditional=false")
    label = keras.Input((), dtype="int32", name="label")
    embedding = keras.layers.Embedding(info.num_classes, cfg.label_dim, name="label_embed")(label)
    return [main, label], main, embedding


def _upsamplings(cfg: Any, info: DatasetInfo) -> int:
    steps = len(cfg.generator_filters)
    height, width = info.input_shape[:2]
    if height % 2**steps or width % 2**steps or min(height, width) // 2**steps < 2:
        raise ZooError(f"images of {height}x{width} do not halve {steps} times down to 2x2 or more: "
                       f"give model.generator_filters {steps - 1} entries or resize the images")
    return steps


def build_generator(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Latent vector (and label) -> image in [-1, 1] (tanh), by strided transposed convolutions."""
    inputs, x, label = _inputs(cfg, info, (cfg.latent_dim,), "latent")
    x = x if label is None else keras.layers.Concatenate()([x, label])
    if len(info.input_shape) != 3:
        for i, units in enumerate(cfg.hidden_sizes):
            x = keras.layers.Dense(units, name=f"g_dense{i}")(x)
            x = keras.layers.LeakyReLU(cfg.leaky_slope)(x)
        out = keras.layers.Dense(info.input_shape[-1], activation="tanh", name="g_out")(x)
        return keras.Model(inputs, out, name="generator")
    steps = _upsamplings(cfg, info)
    height, width, channels = info.input_shape
    h0, w0 = height // 2**steps, width // 2**steps
    x = keras.layers.Dense(h0 * w0 * cfg.generator_filters[0], use_bias=not cfg.batch_norm,
                           name="g_project")(x)
    x = keras.layers.Reshape((h0, w0, cfg.generator_filters[0]))(x)
    for i, filters in enumerate(cfg.generator_filters):
        if cfg.batch_norm:  # synchronised: a mirrored run normalises over the global batch
            x = keras.layers.BatchNormalization(synchronized=True, name=f"g_bn{i}")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                         use_bias=not cfg.batch_norm, name=f"g_up{i}")(x)
    if cfg.batch_norm:
        x = keras.layers.BatchNormalization(synchronized=True, name="g_bn_out")(x)
    x = keras.layers.ReLU()(x)
    out = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", name="g_out")(x)
    return keras.Model(inputs, out, name="generator")


def build_discriminator(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Image (and label) -> one logit, by strided convolutions and leaky ReLUs (no batch norm)."""
    inputs, x, label = _inputs(cfg, info, tuple(info.input_shape), "image")
    if len(info.input_shape) == 3:
        if label is not None:  # the label as extra constant channels
            maps = keras.layers.Dense(info.input_shape[0] * info.input_shape[1])(label)
            maps = keras.layers.Reshape((*info.input_shape[:2], 1))(maps)
            x = keras.layers.Concatenate()([x, maps])
        for i, filters in enumerate(cfg.discriminator_filters):
            x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"d_conv{i}")(x)
            x = keras.layers.LeakyReLU(cfg.leaky_slope)(x)
        x = keras.layers.Flatten()(x)
    else:
        if label is not None:
            x = keras.layers.Concatenate()([x, label])
        for i, units in enumerate(cfg.hidden_sizes):
            x = keras.layers.Dense(units, name=f"d_dense{i}")(x)
            x = keras.layers.LeakyReLU(cfg.leaky_slope)(x)
    out = keras.layers.Dense(1, name="d_logit")(x)
    return keras.Model(inputs, out, name="discriminator")


def build_gan(cfg: Any, info: DatasetInfo) -> keras.Model:
    """The GAN wrapper (custom `train_step`) around a generator and a discriminator."""
    from zoo_plugins.gan.gan import GAN

    image = cfg.name != "gan_mlp"
    if image and len(info.input_shape) != 3:
        raise ZooError(f"model {cfg.name!r} needs images, got input shape {tuple(info.input_shape)}: "
                       "use model=gan_mlp for vectors")
    if not image and len(info.input_shape) != 1:
        raise ZooError(f"model 'gan_mlp' needs vectors, got input shape {tuple(info.input_shape)}: "
                       "use model=dcgan for images")
    return GAN(build_generator(cfg, info), build_discriminator(cfg, info), latent_dim=cfg.latent_dim,
               conditional=cfg.conditional, noise_seed=cfg.noise_seed,
               discriminator_steps=cfg.discriminator_steps, name=cfg.name)
