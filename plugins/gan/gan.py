"""The GAN model: a custom `train_step` with two optimizers (the Keras 3 pattern).

Losses are summed per example and divided by the global batch size, so gradients summed
across MirroredStrategy replicas equal the single-device gradients of the same global batch.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from zoo_plugins.gan.losses import AdversarialLoss, gan_bce
from zoo_plugins.generative.noise import global_batch_size, replica_normal

SEED_STRIDE = 7919  # separates the noise streams of the discriminator and generator steps


@keras.saving.register_keras_serializable(package="zoo_gan")
class GAN(keras.Model):
    """Generator and discriminator trained adversarially; calling it runs the generator."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int,
                 conditional: bool = False, noise_seed: int = 0, discriminator_steps: int = 1,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.conditional = int(latent_dim), bool(conditional)
        self.noise_seed, self.discriminator_steps = int(noise_seed), int(discriminator_steps)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.adversarial: AdversarialLoss = gan_bce()
        self.d_optimizer: keras.optimizers.Optimizer | None = None
        self.built = True

    def compile(self, optimizer: Any = "adam", d_optimizer: Any = None,
                adversarial: AdversarialLoss | None = None, **kwargs: Any) -> None:
        """`optimizer` trains the generator, `d_optimizer` the discriminator."""
        super().compile(optimizer=optimizer, jit_compile=False)
        self.d_optimizer = keras.optimizers.get(d_optimizer) if d_optimizer is not None else None
        self.adversarial = adversarial or gan_bce()

    def build_optimizers(self) -> None:
        """Create both optimizers' variables (before loading a checkpoint that holds them)."""
        self.optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.d_loss_tracker, self.g_loss_tracker]

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def generator_inputs(self, z: Any, labels: Any) -> Any:
        return [z, tf.cast(tf.reshape(labels, [-1]), tf.int32)] if self.conditional else z

    def _critic(self, images: Any, labels: Any, training: bool = True) -> Any:
        inputs = [images, tf.cast(tf.reshape(labels, [-1]), tf.int32)] if self.conditional else images
        return self.discriminator(inputs, training=training)

    def _penalty(self, real: Any, fake: Any, labels: Any, step: Any) -> Any:
        """WGAN-GP: per-example (||grad D(interpolate)|| - 1)^2."""
        n = tf.shape(real)[0]
        eps = replica_normal(n, 1, self.noise_seed + 3 * SEED_STRIDE, step, uniform=True)
        eps = tf.reshape(eps, [-1] + [1] * (len(real.shape) - 1))
        mixed = real + eps * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            logits = self._critic(mixed, labels)
        grads = tape.gradient(logits, mixed)
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, len(real.shape)))) + 1e-12)
        return tf.square(norm - 1.0)

    def adversarial_losses(self, real: Any, labels: Any, step: Any, key: int, training: bool
                           ) -> tuple[Any, Any]:
        """Per-example discriminator and generator losses on one latent draw."""
        z = replica_normal(tf.shape(real)[0], self.latent_dim, self.noise_seed + key * SEED_STRIDE, step)
        fake = self.generator(self.generator_inputs(z, labels), training=training)
        real_logits, fake_logits = self._critic(real, labels, training), self._critic(fake, labels, training)
        d_loss = self.adversarial.discriminator(real_logits, fake_logits)
        if training and self.adversarial.gradient_penalty:
            d_loss += self.adversarial.gradient_penalty * self._penalty(real, fake, labels, step)
        return d_loss, self.adversarial.generator(fake_logits)

    def train_step(self, data: Any) -> dict[str, Any]:
        real, labels = tf.cast(data[0], tf.float32), data[1]
        total = tf.cast(global_batch_size(tf.shape(real)[0]), tf.float32)
        step = self.optimizer.iterations
        d_vars, g_vars = self.discriminator.trainable_variables, self.generator.trainable_variables
        for k in range(self.discriminator_steps):
            with tf.GradientTape() as tape:
                d_losses, _ = self.adversarial_losses(real, labels, step, k, training=True)
                d_loss = tf.reduce_sum(d_losses) / total
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=True))
        with tf.GradientTape() as tape:
            z = replica_normal(tf.shape(real)[0], self.latent_dim,
                               self.noise_seed + self.discriminator_steps * SEED_STRIDE, step)
            fake = self.generator(self.generator_inputs(z, labels), training=True)
            g_losses = self.adversarial.generator(self._critic(fake, labels))
            g_loss = tf.reduce_sum(g_losses) / total
        self.optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=True))
        return self._track(d_losses, g_losses)

    def test_step(self, data: Any) -> dict[str, Any]:
        real, labels = tf.cast(data[0], tf.float32), data[1]
        step = tf.constant(0, tf.int64)  # the same noise for every validation pass
        d_losses, g_losses = self.adversarial_losses(real, labels, step, 0, training=False)
        return self._track(d_losses, g_losses)

    def _track(self, d_losses: Any, g_losses: Any) -> dict[str, Any]:
        d_mean, g_mean = tf.reduce_mean(d_losses), tf.reduce_mean(g_losses)
        self.d_loss_tracker.update_state(d_mean)
        self.g_loss_tracker.update_state(g_mean)
        self.loss_tracker.update_state(d_mean + g_mean)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "latent_dim": self.latent_dim, "conditional": self.conditional,
                "noise_seed": self.noise_seed, "discriminator_steps": self.discriminator_steps,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GAN:
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
