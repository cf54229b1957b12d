"""Work-arounds for Keras/TF (and Hydra, uvicorn) behaviour that other code must not depend on, each
with its reason: the only module that uses those libraries' private APIs or subclasses their internals.

Each function here is checked by `tests/test_compat.py`, which fails when upstream changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def freeze_normalization(model: Any) -> None:
    """Store adapted `Normalization` means and variances as numpy arrays before an ONNX conversion.

    Keras 3.15 keeps them as eager tensors, which `tf.function` captures as placeholders; tf2onnx 1.17
    then turns each into an extra graph input (`.../normalization/Sub/y:0`), so the ONNX model cannot
    run (Keras's own `model.export(format="onnx")` has the same fault). Numpy arrays become constants.
    The values are unchanged, so the Keras model computes exactly what it did.
    """
    import keras

    for layer in nested_layers(model, include_self=True):
        normalization = isinstance(layer, keras.layers.Normalization) and layer.built
        if normalization and hasattr(layer, "mean") and not isinstance(layer.mean, np.ndarray):
            layer.mean = np.asarray(layer.mean)
            layer.variance = np.asarray(layer.variance)


class WeightsLayout:
    """Where `model.save_weights` puts each value, recorded once so a snapshot can be written later.

    Keras 3.15 has no public way to write a `.weights.h5` from values taken earlier: `save_weights`
    reads the live variables while it writes, so it must run on the training thread and costs
    ~15 ms of Python for a 20-variable MLP. Recording Keras's own traversal (`_save_state`) into a
    store, then replaying it into Keras's own `H5IOStore`, writes the same file from numpy copies in
    a background thread. Layers store their variables, but an optimizer stores `variable.numpy()`,
    so while recording `keras.Variable.numpy` tags its result with the variable it came from.
    Private API: `keras.src.saving.saving_lib` (checked by tests/test_compat.py).
    """

    def __init__(self, model: Any):
        import keras
        from keras.src.saving import saving_lib

        class Tagged(np.ndarray):
            variable: Any = None

        def tagged_numpy(variable: Any) -> np.ndarray:
            array = np.asarray(original(variable)).view(Tagged)
            array.variable = variable
            return array

        class Recorder(saving_lib.H5IOStore):
            def __init__(self) -> None:  # no file: remember the groups and their values
                self.groups: list[tuple[str, dict | None, list[tuple[str, Any]]]] = []
                self.mode = "w"

            def __bool__(self) -> bool:
                return True

            def make(self, path: str, metadata: dict | None = None) -> Recorder:
                self.groups.append((path, metadata, []))
                return self

            def __setitem__(self, key: str, value: Any) -> None:
                if isinstance(value, Tagged):
                    value = value.variable
                elif not isinstance(value, keras.Variable):
                    value = np.array(value, copy=True)  # a constant of the layer
                self.groups[-1][2].append((key, value))

        recorder, original = Recorder(), keras.Variable.numpy
        keras.Variable.numpy = tagged_numpy
        try:
            saving_lib._save_state(model, weights_store=recorder, assets_store=None, inner_path="",
                                   visited_saveables=set())
        finally:
            keras.Variable.numpy = original
        self.groups = recorder.groups

    def snapshot(self) -> list[list[np.ndarray]]:
        """Copies of every value now (on the training thread; cheap next to a save)."""
        import keras

        return [[v.numpy() if isinstance(v, keras.Variable) else v for _, v in entries]
                for _, _, entries in self.groups]

    def write(self, path: str | Any, values: list[list[np.ndarray]]) -> None:
        """Write `values` (a `snapshot()`) to `path` as `save_weights` would; any thread."""
        from keras.src.saving import saving_lib

        store = saving_lib.H5IOStore(path, mode="w")
        try:
            for (group, metadata, entries), arrays in zip(self.groups, values, strict=True):
                entry = store.make(group, metadata=metadata)
                for (key, _), array in zip(entries, arrays, strict=True):
                    entry[key] = array
        finally:
            store.close()


# --- Keras 3.15 private attributes: the only place outside Keras that reads them ----------------

def nested_layers(model: Any, include_self: bool = False) -> list[Any]:
    """Every layer inside `model`, nested models' layers included, in Keras's own order.

    Keras has no public walk over nested layers; `Layer._flatten_layers` is what its own saving,
    training and summaries use (keras/src/layers/layer.py). Used by DP-SGD's refusals and the
    per-epoch reseeding of random layers.
    """
    return list(model._flatten_layers(include_self=include_self))


def seed_generators(model: Any) -> list[Any]:
    """The `keras.random.SeedGenerator`s of every layer (dropout, noise): `Layer._seed_generators`
    has no public accessor (keras-team/keras#19399 asks for one)."""
    return [sg for layer in nested_layers(model, include_self=True)
            for sg in getattr(layer, "_seed_generators", [])]


def loss_tracker(model: Any) -> Any:
    """The `Mean` metric behind the `loss` entry of `fit`'s logs (`Trainer._loss_tracker`), which a
    custom `train_step` that computes its own loss must update as Keras's own step does."""
    return model._loss_tracker


def takes_a_dict(model: Any) -> bool:
    """Whether a functional model is called with a dict of its inputs: `Functional._inputs_struct`
    keeps the structure it was built with (the public `model.inputs` is always a flat list)."""
    return isinstance(getattr(model, "_inputs_struct", None), dict)


def build_symbolically(model: Any, data_batch: Any) -> None:
    """Build model, loss, metrics and optimizer variables from symbolic shapes (the private
    `Trainer._symbolic_build`), then turn off the build Keras would run on the first real batch
    (`_maybe_symbolic_build`), which under MultiWorkerMirroredStrategy reduces a PerReplica batch
    outside a replica context (keras-team/keras#20585, tensorflow/tensorflow#72388)."""
    import types

    model._symbolic_build(data_batch=data_batch)

    def already_built(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        return None

    model._maybe_symbolic_build = types.MethodType(already_built, model)


@contextlib.contextmanager
def multi_worker_cpu_devices(n: int) -> Iterator[None]:
    """Inside, with `n` > 1: a `MultiWorkerMirroredStrategy` made without GPUs takes `n` logical
    CPUs per worker (`CollectiveAllReduceExtended._initialize_local_devices` takes one CPU device
    whatever the logical split), so a worker has `n` replicas (`strategy.cpu_devices`)."""
    if n <= 1:
        yield
        return
    from tensorflow.python.distribute.collective_all_reduce_strategy import (
        CollectiveAllReduceExtended as Extended,
    )

    chosen = Extended._initialize_local_devices

    def cpus(self: Any, resolver: Any, worker_device: str) -> tuple[tuple[str, ...], str]:
        devices, kind = chosen(self, resolver, worker_device)
        if kind != "CPU":
            return devices, kind
        return tuple(f"{worker_device}/device:CPU:{i}" for i in range(n)), "CPU"

    Extended._initialize_local_devices = cpus
    try:
        yield
    finally:
        Extended._initialize_local_devices = chosen


def set_distributed_steps(distributed: Any, steps: int) -> None:
    """The steps Keras reads from a `distribute_datasets_from_function` dataset (its `cardinality`:
    the elements of a worker's dataset, private `_cardinality`), for a dataset whose replicas each
    take one element a step; Keras otherwise counts R times the steps, or warns that the data ran
    out when the count is unknown."""
    distributed._cardinality = steps


def tflite_output_names(interpreter: Any) -> dict[str, int]:
    """Output name -> tensor index of a TFLite model's first signature.

    The public `get_signature_list()` names outputs but not their tensors, and
    `get_output_details()` has only converter-made names (`StatefulPartitionedCall:1`);
    `Interpreter._get_full_signature_list` has both. Empty when it is gone."""
    full = getattr(interpreter, "_get_full_signature_list", dict)
    signatures = full() or {}
    return dict(next(iter(signatures.values()), {}).get("outputs", {}))


def distiller_student_features(distiller: Any, inputs: Any, training: Any) -> dict[str, Any]:
    """The outputs of every layer a `keras.distillation.Distiller` distils from, in one student
    pass (`Distiller._student_feature_extractor`, built by Keras for its feature losses)."""
    return distiller._student_feature_extractor(inputs, training=training)


@contextlib.contextmanager
def hydra_mode_unset() -> Iterator[None]:
    """Inside: Hydra's `Hydra.get_mode(config_name, overrides)` (hydra/_internal/hydra.py) answers
    None without composing. Hydra 1.3 composes the whole config once only to read `hydra.mode`,
    then composes it again to run; a caller that knows no config sets the mode skips the first.
    None is what `get_mode` returns for a config without `hydra.mode`."""
    from hydra._internal.hydra import Hydra

    original = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: None
    try:
        yield
    finally:
        Hydra.get_mode = original


def tflite_op_names(interpreter: Any) -> list[str]:
    """The operator names of a TFLite model (`Interpreter._get_ops_details`, the only listing of a
    model's ops; builtin ops by name, Flex ops as `Flex<TF op>`, custom ops by their custom code).
    Empty when it is gone."""
    details = getattr(interpreter, "_get_ops_details", list)
    return [str(op.get("op_name", "")) for op in details()]


@dataclasses.dataclass(frozen=True)
class DecoderParts:
    """The sublayers of one keras-hub `TransformerDecoder` (no cross-attention) that a hand-written
    graph of the same layer needs: its norms, the attention's projections and the feed-forward pair."""

    attention_norm: Any
    query: Any
    key: Any
    value: Any
    output: Any
    feedforward_norm: Any
    feedforward_in: Any
    feedforward_out: Any


def decoder_parts(layer: Any) -> DecoderParts:
    """keras-hub 0.32 keeps a `TransformerDecoder`'s sublayers in private attributes; this is the one
    place that reads them (a rename fails here, with the attribute's name)."""
    attention = layer._self_attention_layer
    return DecoderParts(
        attention_norm=layer._self_attention_layer_norm, query=attention._query_dense,
        key=attention._key_dense, value=attention._value_dense, output=attention._output_dense,
        feedforward_norm=layer._feedforward_layer_norm,
        feedforward_in=layer._feedforward_intermediate_dense,
        feedforward_out=layer._feedforward_output_dense)


# --- Keras 3.15 distillation: its private hook for the student's features -----------------------

class OneStudentPass:
    """Mixin for a `keras.distillation.Distiller` whose `call` already ran the student: Keras's
    `compute_loss` gets the student's features from the private hook `_extract_all_student_features`,
    which runs the student a second time (always with `training=True`, even in validation). This
    mixin answers that hook with `student_features(x, y_pred)`, which the subclass defines from what
    its `call` kept. There is no public way to hand Keras the features (keras 3.15)."""

    def student_features(self, x: Any, y_pred: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _extract_all_student_features(self, x: Any, y_pred: Any) -> dict[str, Any]:
        return self.student_features(x, y_pred)


# --- uvicorn 0.54 internals: the protocol and the server subclassed -------------------------------

HTTP_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class HeaderBounds:
    """The header bounds `bounded_http_protocol()` mixes into uvicorn's `HttpToolsProtocol`."""

    config: Any
    loop: Any
    transport: Any
    cycle: Any

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = float(getattr(self.config, "zoo_header_timeout_s", 5.0))
        self.max_header_bytes = int(getattr(self.config, "zoo_max_header_bytes", 64 * 1024))
        self.header_timer: Any = None
        self.header_bytes = 0
        self.headers_too_large = False

    def _arm(self) -> None:
        if self.header_timer is None:
            self.header_bytes = 0
            self.header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _reply(self, status: int, message: str) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps({"error": message}).encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n"
                             % (status, HTTP_REASONS[status], len(body)) + body)
        self.transport.close()

    def _headers_timed_out(self) -> None:
        self.header_timer = None
        self._reply(408, f"the request headers did not arrive within {self.header_timeout:g} s")

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # a new request begins
        super().data_received(data)  # type: ignore[misc]

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)  # type: ignore[misc]

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)  # type: ignore[misc]

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            self.headers_too_large = True
            raise ValueError("headers too large")  # httptools stops parsing; data_received answers

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        if self.headers_too_large:
            self._reply(431, f"the request line and headers exceed {self.max_header_bytes} bytes")
        else:
            self._reply(400, f"invalid HTTP request: {msg}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


@functools.cache
def bounded_http_protocol() -> type:
    """uvicorn's httptools protocol with the bounds it lacks: a header-read timeout and a header size
    cap. A class for `uvicorn.Config(http=...)` reading `config.zoo_header_timeout_s` and
    `config.zoo_max_header_bytes`.

    uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
    its request line and headers slowly or never (slowloris): `--timeout-request-start` is still open
    upstream (encode/uvicorn issue 157), and uvicorn has no public hook into its parser. So this
    subclasses `uvicorn.protocols.http.httptools_impl.HttpToolsProtocol` (its `connection_made`,
    `data_received`, `on_url`, `on_header`, `on_headers_complete`, `send_400_response`,
    `connection_lost`, `cycle`, `transport`, `loop`) with `HeaderBounds`: a timer (not reset by
    trickled bytes) armed when a connection opens or a new request begins answers 408 and closes if
    the headers are not complete in time; headers over `zoo_max_header_bytes` get 431. Errors are JSON
    like the app's. `tests/test_compat.py` fails when those hooks change or uvicorn gains the option."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return type("BoundedHttpToolsProtocol", (HeaderBounds, HttpToolsProtocol), {})


def draining_server(config: Any, on_shutdown: Callable[[], None]) -> Any:
    """A `uvicorn.Server(config)` that calls `on_shutdown()` when its shutdown begins (before it stops
    taking connections and drains). uvicorn tells an app only through the lifespan `shutdown` event,
    which comes after the drain, too late to end streaming responses cleanly; its `Server.shutdown`
    (overridden here) is not a documented hook. `tests/test_compat.py` checks it is still called."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            on_shutdown()
            await super().shutdown(sockets)

    return DrainingServer(config)
