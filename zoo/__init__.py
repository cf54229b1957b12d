"""Keras Zoo: train, compare, evaluate and ship Keras models from one command line.

Importing `zoo` is cheap: TensorFlow is imported only when work begins. Once Keras is imported,
zoo's Keras objects are registered, so `keras.saving.load_model("RUN/model.keras")` works
(`zoo.saving`); `zoo.load_model(run_dir)` does the same for any family.
"""

from __future__ import annotations

import os

from zoo.core.hookspecs import hookimpl
from zoo.core.specs import DatasetSpec, LossSpec, MetricSpec, ModelSpec
from zoo.core.version import __version__
from zoo.saving import install_keras_hook

# Quiet TensorFlow's C++ start-up logging unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
install_keras_hook()

__all__ = [
    "DatasetSpec", "LossSpec", "MetricSpec", "ModelSpec", "__version__", "hookimpl",
    "build_model", "compose", "evaluate", "generate", "list_datasets", "list_experiments", "list_losses",
    "list_metrics", "list_models", "list_plugins", "load_dataset", "load_model", "train",
]

_API = {
    "build_model", "compose", "evaluate", "generate", "list_datasets", "list_experiments", "list_losses",
    "list_metrics", "list_models", "list_plugins", "load_dataset", "load_model", "train",
}


def __getattr__(name: str):
    if name in _API:
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
