"""Adversarial losses by name: per-example discriminator and generator losses on logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf


@dataclass(frozen=True)
class AdversarialLoss:
    """`discriminator(real, fake)` and `generator(fake)` give per-example losses from logits."""

    name: str
    gradient_penalty: float = 0.0  # weight of WGAN-GP's penalty (0: none)

    def discriminator(self, real: Any, fake: Any) -> Any:
        real, fake = tf.reshape(real, [-1]), tf.reshape(fake, [-1])
        if self.name == "hinge":
            return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)
        if self.name == "wgan_gp":
            return fake - real
        return (tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real), real)
                + tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake), fake))

    def generator(self, fake: Any) -> Any:
        fake = tf.reshape(fake, [-1])
        if self.name in ("hinge", "wgan_gp"):
            return -fake
        return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake), fake)


def gan_bce(info: Any = None) -> AdversarialLoss:
    """Non-saturating binary cross-entropy (the original GAN, generator maximises log D(G(z)))."""
    return AdversarialLoss("gan_bce")


def hinge(info: Any = None) -> AdversarialLoss:
    """Hinge loss (SNGAN, BigGAN)."""
    return AdversarialLoss("hinge")


def wgan_gp(info: Any = None) -> AdversarialLoss:
    """Wasserstein loss with a gradient penalty of weight 10 on interpolates."""
    return AdversarialLoss("wgan_gp", gradient_penalty=10.0)
