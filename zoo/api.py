"""The Python API: the same registry, configs and trainer as the command line."""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.config.compose import compose
from zoo.core.errors import ZooError
from zoo.core.registry import PluginInfo, get_registry
from zoo.training.trainer import TrainResult

__all__ = ["build_model", "compose", "evaluate", "generate", "list_datasets", "list_experiments",
           "list_losses", "list_metrics", "list_models", "list_plugins", "load_dataset", "load_model",
           "train"]


def _names(kind: str, pattern: str) -> list[str]:
    return [n for n in get_registry().names(kind) if fnmatch.fnmatch(n, pattern or "*")]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names, optionally filtered by a shell pattern (`"*net"`)."""
    return _names("model", pattern)


def list_datasets(pattern: str = "*") -> list[str]:
    return _names("dataset", pattern)


def list_losses(pattern: str = "*") -> list[str]:
    return _names("loss", pattern)


def list_metrics(pattern: str = "*") -> list[str]:
    return _names("metric", pattern)


def list_plugins() -> list[PluginInfo]:
    """Every plugin found, with its error if it failed to load."""
    return list(get_registry().plugins)


def list_experiments(pattern: str = "*") -> list[str]:
    from zoo.config.catalog import group_options

    return [o.name for o in group_options("experiment") if fnmatch.fnmatch(o.name, pattern)]


def _typed(kind: str, name: str, params: dict[str, Any]) -> DictConfig:
    """The registered schema of `name` with `params` merged in (typos rejected)."""
    spec = get_registry().get(kind, name)
    base = OmegaConf.structured(spec.config) if spec.config else OmegaConf.create({})
    key = "name" if kind == "model" else "source"
    return OmegaConf.merge(base, {key: name, **params})


def build_model(name: str, input_shape: Sequence[int] | None = None, num_classes: int | None = None,
                info: Any = None, **params: Any) -> Any:
    """Build a registered model, e.g. `build_model("cnn", (28, 28, 1), 10, filters=[16])`.

    `num_classes=None` builds a regression head. Pass `info` (a `DatasetInfo`) instead of
    `input_shape`/`num_classes` to build for a loaded dataset.
    """
    from zoo.data.base import DatasetInfo

    if info is None:
        if input_shape is None:
            raise ZooError("build_model needs input_shape=(...) or info=DatasetInfo")
        task = "classification" if num_classes else "regression"
        modality = "image" if len(input_shape) == 3 else "tabular"
        info = DatasetInfo(name="custom", task=task, modality=modality,
                           input_shape=tuple(input_shape), num_classes=num_classes)
    return get_registry().model(name).build(_typed("model", name, params), info)


def load_dataset(name: str, seed: int = 42, **params: Any) -> Any:
    """Load a registered dataset's raw splits, e.g. `load_dataset("iris")`."""
    return get_registry().dataset(name).load(_typed("dataset", name, params), seed=seed)


def load_model(run_dir: str | Path, compile: bool = False) -> Any:
    """The Keras model a finished run saved (`RUN/model.keras`), e.g.
    `zoo.load_model("runs/houses").predict({"age": ..., "city": ...})`; see `zoo.saving.load_model`."""
    from zoo.saving import load_model as load_saved

    return load_saved(run_dir, compile=compile)


def train(cfg: DictConfig | Sequence[str] | None = None, run_dir: str | Path | None = None
          ) -> TrainResult:
    """Train from a composed config (or a list of overrides); returns metrics, run dir, model.

    The config is checked once, by `zoo.training.trainer.train`, before the run folder opens."""
    from zoo.run.command import given_overrides
    from zoo.training.progress import console_logging
    from zoo.training.trainer import train as run_training

    overrides = None if isinstance(cfg, DictConfig) else list(cfg or [])
    if overrides is not None:
        cfg = compose(overrides)
    recorded = (given_overrides(overrides, f"zoo.train({overrides!r})") if overrides is not None
                else contextlib.nullcontext())
    with console_logging(), recorded:  # a program that configured no logging still sees the epoch lines
        return run_training(cfg, run_dir=run_dir)


def evaluate(run_dir: str | Path, split: str = "test", checkpoint: str = "final",
             batch_size: int = 128, output: str | Path | None = None) -> dict[str, Any]:
    """Score a finished run on a split (writes `<run_dir>/evaluation/` unless `output`)."""
    from zoo.evaluation.evaluate import evaluate as run_evaluation

    return run_evaluation(run_dir, split=split, checkpoint=checkpoint, batch_size=batch_size,
                          output=output)


def generate(prompts: str | Sequence[str], run_dir: str | Path | None = None,
             bundle: str | Path | None = None, checkpoint: str = "final", options: Any = None,
             **sampling: Any) -> Any:
    """Complete prompts with a language-model run or an exported bundle (no TensorFlow for a bundle).

    `zoo.generate("The licence", run_dir="runs/gpt", max_new_tokens=20, sampler="top_p", seed=1)`;
    a single prompt gives one string, a list gives a list. `sampling` are the fields of
    `zoo.runtime.generation_options.GenerationOptions` (or pass `options=`).
    """
    from zoo.generation.api import generate as run_generation
    from zoo.runtime.generation_options import GenerationOptions

    if options is None:
        options = GenerationOptions(**{k: tuple(v) if k == "stop" else v for k, v in sampling.items()})
    elif sampling:
        raise ZooError("pass sampling settings either as options= or as keywords, not both")
    single = isinstance(prompts, str)
    completions = run_generation([prompts] if single else list(prompts), run_dir=run_dir, bundle=bundle,
                                 checkpoint=checkpoint, options=options)
    return completions[0] if single else completions
