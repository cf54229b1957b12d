"""From a run folder back to its Keras model: zoo's Keras objects registered, and `load_model`.

zoo's own layers, losses, metrics and schedules are registered with
`keras.saving.register_keras_serializable` when their modules are imported. `import zoo` stays free
of TensorFlow, so it installs an import hook instead (`install_keras_hook`): as soon as Keras is
imported, those modules are imported too, and plain `keras.saving.load_model("RUN/model.keras")`
finds them. A family's own classes (the GAN and VAE models) are registered by its plugin's modules:
`zoo.load_model` imports those the saved model names (from zoo or the run's family's package only).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import logging
import sys
import zipfile
from pathlib import Path
from typing import Any

log = logging.getLogger("zoo")
KERAS_OBJECT_MODULES = ("zoo.preprocessing.layers", "zoo.losses", "zoo.metrics", "zoo.training.optim")


def register_keras_objects() -> None:
    """Import the modules whose classes carry `@keras.saving.register_keras_serializable`."""
    for name in KERAS_OBJECT_MODULES:
        importlib.import_module(name)


class _LoaderThenRegister(importlib.abc.Loader):
    """Keras's own loader, followed by `register_keras_objects` once Keras is fully imported."""

    def __init__(self, loader: Any):
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader
        try:
            register_keras_objects()
        except Exception as exc:  # never break `import keras` over zoo's registrations
            log.warning("zoo's Keras objects were not registered (%s: %s); use zoo.load_model",
                        type(exc).__name__, exc)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds `keras` with the other finders and wraps its loader (once, then steps aside)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "keras":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderThenRegister(spec.loader)
        return spec


def install_keras_hook() -> None:
    """Have zoo's Keras objects registered when Keras is imported (now, if it already is)."""
    if "keras" in sys.modules:
        register_keras_objects()
    elif not any(isinstance(finder, _AfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())


def load_model(run_dir: str | Path, compile: bool = False) -> Any:
    """The Keras model a finished run saved (`RUN/model.keras`): raw inputs in where the run has a
    preprocessor (a CSV run takes its columns by name), the family's own inputs otherwise (token ids
    for BERT and GPT, whose tokenisers are files beside it). `compile=True` restores the training
    loss, metrics and optimizer settings as saved."""
    import keras

    from zoo.core.errors import RunDirError
    from zoo.core.registry import get_registry
    from zoo.run.rundir import open_finished

    run, cfg = open_finished(run_dir)
    if not run.model.exists():
        raise RunDirError(f"{run.model} is missing: the run did not finish; resume it with zoo train "
                          f"run_dir={run.path}")
    register_keras_objects()
    import_saved_classes(run.model, {"zoo", package_of(get_registry().model(cfg.model.name).build)})
    return keras.saving.load_model(run.model, compile=compile)


def package_of(function: Any) -> str:
    """The top-level package a (possibly `zoo.core.lazy`) function comes from."""
    where = getattr(function, "target", None) or function.__module__
    return where.split(":")[0].split(".")[0]


def import_saved_classes(path: Path, packages: set[str]) -> None:
    """Import the modules of the registered classes a `.keras` file names, those in `packages` only
    (Keras itself imports only its own packages' modules, so a plugin's classes must be imported)."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    for module in sorted(set(class_modules(config))):
        if module.split(".")[0] in packages:
            importlib.import_module(module)


def class_modules(config: Any) -> Any:
    """The `module` of every registered object in a Keras config (nested dicts and lists)."""
    if isinstance(config, dict):
        if config.get("registered_name") and isinstance(config.get("module"), str):
            yield config["module"]
        for value in config.values():
            yield from class_modules(value)
    elif isinstance(config, list):
        for value in config:
            yield from class_modules(value)
