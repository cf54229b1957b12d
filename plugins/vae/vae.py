"""The VAE model: reparameterisation and ELBO = reconstruction + beta x KL in a custom `train_step`.

Per-example losses are summed and divided by the global batch, and the noise comes from a
stateless draw of the whole global batch, so mirrored and single-device runs agree.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf
from zoo_plugins.generative.noise import global_batch_size, replica_normal


@keras.saving.register_keras_serializable(package="zoo_vae")
class VAE(keras.Model):
    """Encoder to (mean, log-variance), a sampled latent, decoder to a reconstruction mean."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0,
                 reconstruction: str = "bernoulli", gaussian_sigma: float = 0.1, noise_seed: int = 0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.reconstruction = float(beta), reconstruction
        self.gaussian_sigma, self.noise_seed = float(gaussian_sigma), int(noise_seed)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        # Fraction of beta in force (KL warm-up moves it from 0 to 1); saved with the weights.
        self.kl_weight = self.add_weight(shape=(), initializer="ones", trainable=False, name="kl_weight")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "reconstruction", "kl", "elbo")}
        self.built = True

    def compile(self, optimizer: Any = "adam", **kwargs: Any) -> None:
        super().compile(optimizer=optimizer, jit_compile=False)

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def call(self, inputs: Any, training: bool = False) -> Any:
        """The reconstruction from the latent mean (deterministic)."""
        return self.decoder(self.encoder(inputs, training=training)[0], training=training)

    def reconstruction_nll(self, x: Any, mean: Any) -> Any:
        """Per-example negative log-likelihood of `x` under the decoder's distribution (nats)."""
        axes = list(range(1, len(x.shape)))
        if self.reconstruction == "gaussian":
            var = self.gaussian_sigma ** 2
            per_dim = 0.5 * tf.square(x - mean) / var + 0.5 * math.log(2 * math.pi * var)
            return tf.reduce_sum(per_dim, axes)
        mean = tf.clip_by_value(mean, 1e-6, 1.0 - 1e-6)
        return -tf.reduce_sum(x * tf.math.log(mean) + (1.0 - x) * tf.math.log(1.0 - mean), axes)

    def per_example(self, x: Any, step: Any, training: bool) -> tuple[Any, Any]:
        """Reconstruction NLL and KL(q(z|x) || N(0, I)) per example, on one noise draw."""
        z_mean, z_log_var = self.encoder(x, training=training)
        eps = replica_normal(tf.shape(x)[0], self.latent_dim, self.noise_seed, step)
        z = z_mean + tf.exp(0.5 * z_log_var) * eps
        nll = self.reconstruction_nll(x, self.decoder(z, training=training))
        kl = -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=1)
        return nll, kl

    def train_step(self, data: Any) -> dict[str, Any]:
        x = tf.cast(data[0], tf.float32)
        total = tf.cast(global_batch_size(tf.shape(x)[0]), tf.float32)
        with tf.GradientTape() as tape:
            nll, kl = self.per_example(x, self.optimizer.iterations, training=True)
            loss = tf.reduce_sum(nll + self.beta * self.kl_weight * kl) / total
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return self._track(nll, kl)

    def test_step(self, data: Any) -> dict[str, Any]:
        nll, kl = self.per_example(tf.cast(data[0], tf.float32), tf.constant(0, tf.int64), False)
        return self._track(nll, kl)

    def _track(self, nll: Any, kl: Any) -> dict[str, Any]:
        values = {"loss": nll + self.beta * self.kl_weight * kl, "reconstruction": nll, "kl": kl,
                  "elbo": -(nll + kl)}
        for name, value in values.items():
            self.trackers[name].update_state(tf.reduce_mean(value))
        return {name: t.result() for name, t in self.trackers.items()}

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "beta": self.beta, "reconstruction": self.reconstruction,
                "gaussian_sigma": self.gaussian_sigma, "noise_seed": self.noise_seed,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
