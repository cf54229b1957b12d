"""Import-on-call references, so registering a builder never imports TensorFlow."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any


def lazy(target: str) -> Callable[..., Any]:
    """A function that imports `package.module:attr` on its first call and forwards to it."""
    module_name, _, attr = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = target
    call.target = target  # type: ignore[attr-defined]  # where it lives, without importing it
    return call


def import_tensorflow() -> Any:
    """Import TensorFlow with its C++ start-up chatter turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf
