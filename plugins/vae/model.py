"""VAE encoder and decoder builders: strided convolutions for images, dense layers otherwise."""

from __future__ import annotations

import math
from typing import Any

import keras

from zoo.sdk import DatasetInfo, ZooError

RECONSTRUCTIONS = ("bernoulli", "gaussian")


def _check(cfg: Any, info: DatasetInfo) -> bool:
    """True for the convolutional variant; fails early on a config that cannot work."""
    if cfg.reconstruction not in RECONSTRUCTIONS:
        raise ZooError(f"model.reconstruction={cfg.reconstruction!r}: expected bernoulli or gaussian")
    conv = cfg.name != "vae_dense"
    if conv and len(info.input_shape) != 3:
        raise ZooError(f"model 'vae' needs images, got input shape {tuple(info.input_shape)}: "
                       "use model=vae_dense for vectors")
    if conv and any(d % 2 ** len(cfg.filters) for d in info.input_shape[:2]):
        raise ZooError(f"images of {tuple(info.input_shape[:2])} do not halve {len(cfg.filters)} "
                       "times: shorten model.filters or resize the images")
    return conv


def build_encoder(cfg: Any, info: DatasetInfo, conv: bool) -> keras.Model:
    """Input -> (z_mean, z_log_var)."""
    inputs = keras.Input(tuple(info.input_shape), name="image" if conv else "features")
    x = inputs
    if conv:
        for i, filters in enumerate(cfg.filters):
            x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                                    name=f"e_conv{i}")(x)
    x = keras.layers.Flatten()(x)
    for i, units in enumerate(cfg.hidden_sizes[:1] if conv else cfg.hidden_sizes):
        x = keras.layers.Dense(units, activation="relu", name=f"e_dense{i}")(x)
    z_mean = keras.layers.Dense(cfg.latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(cfg.latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(cfg: Any, info: DatasetInfo, conv: bool) -> keras.Model:
    """Latent -> reconstruction mean in [0, 1] (sigmoid)."""
    latent = keras.Input((cfg.latent_dim,), name="latent")
    x = latent
    if conv:
        steps = 2 ** len(cfg.filters)
        h, w, channels = info.input_shape[0] // steps, info.input_shape[1] // steps, info.input_shape[2]
        x = keras.layers.Dense(cfg.hidden_sizes[0], activation="relu", name="d_dense0")(x)
        x = keras.layers.Dense(h * w * cfg.filters[-1], activation="relu", name="d_project")(x)
        x = keras.layers.Reshape((h, w, cfg.filters[-1]))(x)
        for i, filters in enumerate(reversed(cfg.filters)):
            x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu",
                                             name=f"d_up{i}")(x)
        x = keras.layers.Conv2D(channels, 3, padding="same", name="d_logits")(x)
    else:
        for i, units in enumerate(reversed(cfg.hidden_sizes)):
            x = keras.layers.Dense(units, activation="relu", name=f"d_dense{i}")(x)
        x = keras.layers.Dense(math.prod(info.input_shape), name="d_logits")(x)
        x = keras.layers.Reshape(tuple(info.input_shape))(x)
    return keras.Model(latent, keras.layers.Activation("sigmoid", name="mean")(x), name="decoder")


def build_vae(cfg: Any, info: DatasetInfo) -> keras.Model:
    """The VAE wrapper (custom `train_step`, ELBO) around an encoder and a decoder."""
    from zoo_plugins.vae.vae import VAE

    conv = _check(cfg, info)
    return VAE(build_encoder(cfg, info, conv), build_decoder(cfg, info, conv), beta=cfg.beta,
               reconstruction=cfg.reconstruction, gaussian_sigma=cfg.gaussian_sigma,
               noise_seed=cfg.noise_seed, name=cfg.name)
