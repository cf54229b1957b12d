"""Run an exported artifact on numpy inputs, one class per format.

`run(inputs)` gives the (first) output array; `run_all(inputs)` every output by name, for parts
with several (a VAE encoder's `z_mean` and `z_log_var`). `OnnxRunner` needs only onnxruntime and
numpy (so ONNX bundles serve without TensorFlow); the other runners import TensorFlow or Keras
when they are created.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError

SINGLE = "output_0"


GENERATED = re.compile(r"^(Identity|StatefulPartitionedCall|PartitionedCall)(_\d+)?(:\d+)?$")


def signature_names(names: list[str]) -> list[str]:
    """Output names as the SavedModel signature gives them (`output_0`, ...) where the converter left
    graph-internal ones (`Identity:0`); names a model chose are kept."""
    if names and all(GENERATED.match(n) for n in names):
        return [f"output_{i}" for i in range(len(names))]
    return names


def flatten_outputs(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """One array of a model's outputs: the only one as it is, several flattened side by side (by name)."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    arrays = [np.asarray(outputs[k]) for k in sorted(outputs)]
    return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)


def as_tensor(x: np.ndarray) -> Any:
    """An input of the TensorFlow runners as a `tf.constant` (Keras refuses numpy strings, and a
    dict of inputs must not mix numpy arrays and tensors)."""
    from zoo.core.lazy import import_tensorflow

    return import_tensorflow().constant(x.astype(str) if x.dtype == object else x)


class OnnxRunner:
    """An onnxruntime session; inputs are fed in the order of the exported signature.

    `threads` and `spinning` (class-wide, set by `configure_onnx`) tune onnxruntime's intra-op
    pool: a server running many small batches beside its event loop wants one thread that does
    not spin; None keeps onnxruntime's defaults (one spinning thread per core). `spinning=False`
    for one session (a decoder's hundreds of small ops a step: waiting threads that spin on a
    shared, loaded machine made a step 2-3x slower).
    """

    threads: int | None = None
    spinning: bool = True

    def __init__(self, path: Path, names: list[str] | None = None, spinning: bool | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        if not (self.spinning if spinning is None else spinning):
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = signature_names([o.name for o in self.session.get_outputs()])

    def run_all(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        feeds = dict(zip(self.input_names, inputs, strict=True))
        return dict(zip(self.output_names, map(np.asarray, self.session.run(None, feeds)), strict=True))

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return next(iter(self.run_all(inputs).values()))


class TFLiteRunner:
    """The TFLite interpreter, resized to each batch (the batch dimension is dynamic)."""

    def __init__(self, path: Path, names: list[str] | None = None):
        from zoo.core.compat import tflite_output_names
        from zoo.core.lazy import import_tensorflow

        tf = import_tensorflow()
        with warnings.catch_warnings(record=True) as said:  # its deprecation notice: to the log
            warnings.simplefilter("always")
            self.interpreter = tf.lite.Interpreter(model_path=str(path))
        for warning in said:
            logging.getLogger("zoo.runtime").info("tf.lite: %s", " ".join(str(warning.message).split()))
        self.inputs = self._in_order(self.interpreter.get_input_details(), names or [])
        self.outputs = tflite_output_names(self.interpreter) or {
            d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.shape: tuple | None = None
        self.path = Path(path)
        from zoo.runtime.lookups import Lookups

        self.lookups = Lookups(Path(path).parent, names or [])

    @staticmethod
    def _in_order(details: list[dict], names: list[str]) -> list[dict]:
        """Input tensors in signature order (the converter may reorder them; names say which is which)."""
        by_name = {d["name"].removeprefix("serving_default_").split(":")[0]: d for d in details}
        if len(names) == len(details) and set(names) <= set(by_name):
            return [by_name[name] for name in names]
        return details

    def run_all(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        inputs = self.lookups.apply(inputs)
        shape = tuple(x.shape for x in inputs)
        if shape != self.shape:
            for detail, x in zip(self.inputs, inputs, strict=True):
                self.interpreter.resize_tensor_input(detail["index"], x.shape)
            try:
                self.interpreter.allocate_tensors()
            except RuntimeError as exc:  # e.g. Flex (TensorFlow) ops, whose delegate pip's interpreter lacks
                text = " ".join(str(exc).split())
                node = re.search(r"\((\w+)\) failed to prepare", text)
                why = ("it needs the Flex delegate, which this interpreter lacks" if "Flex delegate" in text
                       else text[:200])
                raise ZooError(f"{self.path.name}: the TFLite interpreter cannot prepare this model "
                               f"({node.group(1) + ': ' if node else ''}{why}): export the run with "
                               "format=onnx or savedmodel") from None
            self.shape = shape
        for detail, x in zip(self.inputs, inputs, strict=True):
            self.interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
        self.interpreter.invoke()
        return {name: np.array(self.interpreter.get_tensor(index)) for name, index in self.outputs.items()}

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return next(iter(self.run_all(inputs).values()))


class SavedModelRunner:
    """The reloaded SavedModel's `serving_default` signature."""

    def __init__(self, path: Path, names: list[str]):
        from zoo.core.lazy import import_tensorflow

        tf = import_tensorflow()
        self.fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        self.names = names

    def run_all(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.fn(**dict(zip(self.names, map(as_tensor, inputs), strict=True)))
        return {name: np.asarray(value) for name, value in outputs.items()}

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return next(iter(self.run_all(inputs).values()))


class KerasRunner:
    """A `.keras` file reloaded with Keras (plugin layers must be importable)."""

    def __init__(self, path: Path, names: list[str] | None = None, model: Any = None):
        import keras

        self.model = model if model is not None else keras.saving.load_model(path, compile=False)
        self.names = names or [t.name for t in self.model.inputs]

    def run_all(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        from zoo.runtime.signature import model_inputs

        outputs = self.model(model_inputs(self.model, self.names, [as_tensor(x) for x in inputs]),
                             training=False)
        if isinstance(outputs, dict):
            return {name: np.asarray(value) for name, value in outputs.items()}
        return {SINGLE: np.asarray(outputs)}

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        return next(iter(self.run_all(inputs).values()))


def configure_onnx(threads: int | None, spinning: bool) -> None:
    """onnxruntime thread settings for the sessions opened from now on in this process."""
    OnnxRunner.threads, OnnxRunner.spinning = threads, spinning


RUNNERS = {"onnx": OnnxRunner, "tflite": TFLiteRunner, "savedmodel": SavedModelRunner, "keras": KerasRunner}


def open_runner(fmt: str, path: Path, names: list[str]) -> Any:
    """The runner of an artifact of format `fmt` whose inputs are called `names`."""
    if fmt not in RUNNERS:
        raise ZooError(f"format={fmt!r}: expected one of {', '.join(RUNNERS)}")
    return RUNNERS[fmt](path, names)
