"""Optimizer and learning-rate schedule from `OptimizerConfig` and `TrainerConfig`."""

from __future__ import annotations

from typing import Any

import keras

from zoo.config.bounds import choices_of
from zoo.config.schema import OptimizerConfig, TrainerConfig
from zoo.core.errors import ZooError

SCHEDULES = choices_of(TrainerConfig, "lr_schedule")
OPTIMIZERS = choices_of(OptimizerConfig, "name")


def learning_rate(trainer: Any, steps_per_epoch: int) -> Any:
    """A float, or a cosine or linear decay (with optional linear warm-up) over the whole run."""
    if trainer.lr_schedule not in SCHEDULES:
        raise ZooError(f"trainer.lr_schedule={trainer.lr_schedule!r}: expected one of "
                       f"{', '.join(SCHEDULES)}")
    lr = trainer.learning_rate
    warmup = trainer.warmup_epochs * steps_per_epoch
    if trainer.lr_schedule not in ("cosine", "linear"):
        if warmup:
            raise ZooError("trainer.warmup_epochs needs trainer.lr_schedule=cosine or linear")
        return lr
    total = max(1, trainer.epochs * steps_per_epoch - warmup)
    if trainer.lr_schedule == "linear":  # BERT's fine-tuning schedule
        return WarmupLinearDecay(lr, warmup, total)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(0.0, total, warmup_target=lr,
                                                      warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(lr, total)


@keras.saving.register_keras_serializable(package="zoo")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak` over `warmup` steps, then linear decay to 0 over `decay`."""

    def __init__(self, peak: float, warmup: int, decay: int):
        self.peak, self.warmup, self.decay = float(peak), int(warmup), int(decay)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        rising = step / max(1, self.warmup)
        falling = 1.0 - (step - self.warmup) / self.decay
        return self.peak * keras.ops.clip(keras.ops.minimum(rising, falling), 0.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup": self.warmup, "decay": self.decay}


# Which `OptimizerConfig` fields each optimizer (of `OPTIMIZERS`) takes; the rest are for the others.
SETTINGS = {"adam": ("beta_1", "beta_2", "epsilon", "weight_decay"),
            "adamw": ("beta_1", "beta_2", "epsilon", "weight_decay"),
            "sgd": ("momentum", "nesterov", "weight_decay"),
            "rmsprop": ("momentum", "epsilon", "weight_decay")}


def build_optimizer(cfg: Any, trainer: Any, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name (`keras.optimizers.get`): adam, adamw, sgd or rmsprop."""
    if cfg.name not in OPTIMIZERS:
        raise ZooError(f"optimizer.name={cfg.name!r}: expected {', '.join(OPTIMIZERS)} "
                       f"(or pick optimizer={'|'.join(OPTIMIZERS)})")
    settings = {key: cfg[key] for key in SETTINGS[cfg.name]}
    if settings["weight_decay"] is None:
        settings.pop("weight_decay")  # the optimizer's own default (AdamW: 0.004, the others: none)
    kind = type(keras.optimizers.get(cfg.name))
    return kind(learning_rate=learning_rate(trainer, steps_per_epoch), clipnorm=cfg.clipnorm, **settings)
