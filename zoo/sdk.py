"""The public plugin SDK: everything a model family may use from Keras Zoo, in one module.

Built-in families (`plugins/`) import the core through this module only, exactly as a third-party
package does; `lint-imports` (setup.cfg) fails the build when one reaches past it. Names here are
stable within a major `SDK_VERSION`: a name is removed or changes meaning only with a new major
version, and `docs/plugins.md` documents each group.

    from zoo.sdk import ModelSpec, Training, hookimpl, task_head
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

SDK_VERSION = "3.0"  # 2.0: a Task is built with its config and run (Task(cfg, run, registry));
# its steps no longer take `cfg`; training modes (TrainingModeSpec, DelegatingTask)
# 2.1: `bounded` declares a config field's range (nothing is guessed from field names),
# `existing_path` a file or folder that must exist, `choice` a string field's options
# 2.2: `labelled_text`, `unlabelled_text` (a conformance case's data; was `zoo.testing.data`, not the SDK)
# 3.0: roles instead of one Task: ModelSpec(data=DataPreparer, training=Training,
# evaluation=Evaluator, export=ExportModule), data prepared into a frozen `Prepared`;
# training modes wrap the training part (TrainingWrapper); Task and DelegatingTask are gone
# (3.0 also) DatasetInfo's family facts are typed (`TextFacts` in `info.text`, `Scaling` in `info.scaling`
# instead of `extra` keys and a min-max scale in mean/std; docs/plugins.md has the migration)
# (3.0 also) `decoder_parts` (a keras-hub decoder layer's sublayers) replaces `onnx_convertible_slice_update`
# (3.0 also) `TrainingModeSpec.conformance(ModeCase)`: the overrides the conformance kit trains a mode with

# Where each public name lives. The SDK imports a module only when one of its names is first used,
# so a plugin's registration (`zoo list`, `zoo --help`) stays cheap and TensorFlow-free.
_MODULES: dict[str, tuple[str, ...]] = {
    "zoo.config.bounds": ("bounded", "choice", "existing_path"),
    "zoo.config.schema": ("ModelConfig",),
    "zoo.core.compat": ("DecoderParts", "decoder_parts"),
    "zoo.core.errors": ("DataError", "RunDirError", "ZooError", "close_matches"),
    "zoo.core.hookspecs": ("hookimpl",),
    "zoo.core.lazy": ("import_tensorflow", "lazy"),
    "zoo.core.registry": ("Registry", "get_registry"),
    "zoo.core.specs": (
        "ConformanceCase",
        "CLASSIFICATION", "GENERATIVE", "REGRESSION", "UNLABELLED", "DatasetSpec", "LossSpec",
        "MetricSpec", "ModelSpec", "ModeCase", "TrainingModeSpec",
    ),
    "zoo.data.base": ("DatasetInfo", "RawSplits", "Scaling", "TextFacts"),
    "zoo.data.prepared": ("Prepared",),
    "zoo.data.configs": ("DatasetConfig", "TFDSDatasetConfig"),
    "zoo.data.csv_data": ("Table", "is_integer", "is_number", "read_table", "require_column"),
    "zoo.data.docstring_text": ("labelled_text", "unlabelled_text"),
    "zoo.data.files": ("read_utf8",),
    "zoo.data.pipeline": ("eval_stream",),
    "zoo.data.splits": (
        "check_fraction", "check_int_labels", "encode_names", "ids_of_names", "require_classes",
        "split_arrays", "to_raw_splits",
    ),
    "zoo.data.tfds_data": (
        "check_known", "count", "import_tfds", "load_splits", "network_reachable", "split_names",
    ),
    "zoo.modeling": ("model_input", "task_head"),
    "zoo.preprocessing.prepare": ("as_float_images",),
    "zoo.runtime.generate": ("CAUSAL_LM",),
    "zoo.runtime.generation_options": ("GenerationOptions", "cut_at_stop"),
    "zoo.runtime.kv_cache": ("CachedDecoder",),
    "zoo.runtime.runners": ("OnnxRunner",),
    "zoo.runtime.text_codec": ("TextCodec",),
    "zoo.tasks.export_parts": ("DEFAULT_PART", "ExportPart", "sample_arrays"),
    "zoo.tasks.evaluator": ("Evaluator",),
    "zoo.tasks.export_module": ("ExportModule",),
    "zoo.tasks.preparer": ("DataPreparer",),
    "zoo.tasks.report": ("Evaluation", "classification_report", "regression_report"),
    "zoo.tasks.training": ("Training", "TrainingWrapper"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = ["SDK_VERSION", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"zoo.sdk has no {name!r}: docs/plugins.md lists the public names")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and editors see
    # What a family registers: hook marker, specs, task kinds, the config base class.
    from zoo.config.bounds import bounded, choice, existing_path
    from zoo.config.schema import ModelConfig
    from zoo.core.compat import DecoderParts, decoder_parts
    from zoo.core.errors import DataError, RunDirError, ZooError, close_matches
    from zoo.core.hookspecs import hookimpl

    # TensorFlow and lazy builders, imported only when work begins.
    from zoo.core.lazy import import_tensorflow, lazy
    from zoo.core.registry import Registry, get_registry
    from zoo.core.specs import (
        CLASSIFICATION,
        GENERATIVE,
        REGRESSION,
        UNLABELLED,
        ConformanceCase,
        DatasetSpec,
        LossSpec,
        MetricSpec,
        ModeCase,
        ModelSpec,
        TrainingModeSpec,
    )

    # Data sources: dataset descriptions, splits, CSV and TFDS helpers.
    from zoo.data.base import DatasetInfo, RawSplits, Scaling, TextFacts
    from zoo.data.configs import DatasetConfig, TFDSDatasetConfig
    from zoo.data.csv_data import Table, is_integer, is_number, read_table, require_column
    from zoo.data.docstring_text import labelled_text, unlabelled_text
    from zoo.data.files import read_utf8
    from zoo.data.pipeline import eval_stream
    from zoo.data.prepared import Prepared  # what a data part returns
    from zoo.data.splits import (
        check_fraction,
        check_int_labels,
        encode_names,
        ids_of_names,
        require_classes,
        split_arrays,
        to_raw_splits,
    )
    from zoo.data.tfds_data import (
        check_known,
        count,
        import_tfds,
        load_splits,
        network_reachable,
        split_names,
    )

    # Model building blocks: the input layer and the task's head.
    from zoo.modeling import model_input, task_head
    from zoo.preprocessing.prepare import as_float_images

    # Text generation: what a language model's bundle and `generate` hook speak.
    from zoo.runtime.generate import CAUSAL_LM
    from zoo.runtime.generation_options import GenerationOptions, cut_at_stop
    from zoo.runtime.kv_cache import CachedDecoder
    from zoo.runtime.runners import OnnxRunner
    from zoo.runtime.text_codec import TextCodec

    # The roles a family declares on its ModelSpec, each optional (`Training` and `TrainingWrapper`
    # are also the base of a training mode), and the export parts and evaluations they return.
    from zoo.tasks.evaluator import Evaluator
    from zoo.tasks.export_module import ExportModule
    from zoo.tasks.export_parts import DEFAULT_PART, ExportPart, sample_arrays
    from zoo.tasks.preparer import DataPreparer
    from zoo.tasks.report import Evaluation, classification_report, regression_report
    from zoo.tasks.training import Training, TrainingWrapper
