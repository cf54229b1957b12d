"""Optimizer and learning-rate schedule from `OptimizerConfig` and `TrainerConfig`."""

from __future__ import annotations

from typing import Any

import keras

from zoo.errors import ZooError

SCHEDULES = ("constant", "cosine", "plateau")


def learning_rate(trainer: Any, steps_per_epoch: int) -> Any:
    """A float, or a cosine decay (with optional linear warm-up) over the whole run."""
    if trainer.lr_schedule not in SCHEDULES:
        raise ZooError(f"trainer.lr_schedule={trainer.lr_schedule!r}: expected one of "
                       f"{', '.join(SCHEDULES)}")
    lr = trainer.learning_rate
    warmup = trainer.warmup_epochs * steps_per_epoch
    if trainer.lr_schedule != "cosine":
        if warmup:
            raise ZooError("trainer.warmup_epochs needs trainer.lr_schedule=cosine")
        return lr
    total = max(1, trainer.epochs * steps_per_epoch - warmup)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(0.0, total, warmup_target=lr,
                                                      warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(lr, total)


def build_optimizer(cfg: Any, trainer: Any, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name: adam, adamw, sgd or rmsprop."""
    lr = learning_rate(trainer, steps_per_epoch)
    common = {"learning_rate": lr, "clipnorm": cfg.clipnorm}
    if cfg.name == "adam":
        return keras.optimizers.Adam(beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon,
                                     weight_decay=cfg.weight_decay, **common)
    if cfg.name == "adamw":
        return keras.optimizers.AdamW(beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon,
                                      weight_decay=0.004 if cfg.weight_decay is None else cfg.weight_decay,
                                      **common)
    if cfg.name == "sgd":
        return keras.optimizers.SGD(momentum=cfg.momentum, nesterov=cfg.nesterov,
                                    weight_decay=cfg.weight_decay, **common)
    if cfg.name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=cfg.momentum, epsilon=cfg.epsilon,
                                        weight_decay=cfg.weight_decay, **common)
    raise ZooError(f"optimizer.name={cfg.name!r}: expected adam, adamw, sgd or rmsprop "
                   "(or pick optimizer=adam|adamw|sgd|rmsprop)")
