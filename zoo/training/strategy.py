"""Pick a tf.distribute strategy from `StrategyConfig` (a string, as in TF Model Garden)."""

from __future__ import annotations

import logging
from typing import Any

from zoo.config.bounds import choices_of
from zoo.config.schema import StrategyConfig
from zoo.core.errors import ZooError
from zoo.core.lazy import import_tensorflow

log = logging.getLogger(__name__)
STRATEGIES = choices_of(StrategyConfig, "name")


def configure_cpu_devices(n: int) -> list[str]:
    """Split the physical CPU into `n` logical devices (must happen before TF initialises)."""
    split_cpu(n)
    return [d.name for d in import_tensorflow().config.list_logical_devices("CPU")]


def split_cpu(n: int) -> None:
    """`configure_cpu_devices` without starting TensorFlow (a multi-worker strategy starts it)."""
    tf = import_tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        raise ZooError(
            f"strategy.cpu_devices={n}: TensorFlow is already running with {have} CPU device(s) "
            "in this process; set it before TensorFlow starts (a fresh process or zoo train)"
        ) from None


def make_strategy(cfg: Any) -> Any:
    """`auto`, `mirrored` (GPUs, devices or `cpu_devices` logical CPUs), `one_device`, `multi_worker`."""
    tf = import_tensorflow()
    if cfg.name not in STRATEGIES:
        raise ZooError(f"strategy.name={cfg.name!r}: expected one of {', '.join(STRATEGIES)}")
    if cfg.name == "multi_worker":
        from zoo.training.distributed import make_multi_worker_strategy

        return make_multi_worker_strategy(cfg)
    if cfg.cpu_devices:
        configure_cpu_devices(cfg.cpu_devices)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if cfg.name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy(gpus)
        return tf.distribute.get_strategy()
    if cfg.name == "one_device":
        return tf.distribute.OneDeviceStrategy(cfg.device or (gpus[0] if gpus else "/cpu:0"))
    devices = list(cfg.devices or [])
    if not devices and cfg.cpu_devices:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][: cfg.cpu_devices]
    devices = devices or gpus or ["/cpu:0"]
    cross_device = None
    if not any("GPU" in d.upper() for d in devices):
        cross_device = tf.distribute.ReductionToOneDevice()  # NCCL is for GPUs only
    log.info("MirroredStrategy over %d device(s): %s", len(devices), ", ".join(devices))
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device)
