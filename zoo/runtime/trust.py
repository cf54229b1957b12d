"""What a bundle may run before it is trusted: a bundle is code, so its graph is read before it is loaded.

Policy (docs/deploy.md): an ONNX graph may use the standard operator sets only (`ai.onnx`,
`ai.onnx.ml`, and onnxruntime's built-in `com.microsoft` contrib ops), and its external data must lie
inside the bundle; a SavedModel's serving signature and a TFLite model may not reach an operation
that touches the host: files (ReadFile, WriteFile, MatchingFiles, Save/Restore, readers, summaries,
datasets), Python (PyFunc, EagerPyFunc), printing to a stream, the network (Send/Recv, collectives,
RPC). A bundle that needs one is refused unless the user marks it trusted: `trust=true` on the
command line, or the environment variable `ZOO_TRUST_BUNDLES=1`. Keras `.keras` files load in Keras's
safe mode (no Lambda layers) always.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from zoo.core.errors import ZooError

TRUST_VARIABLE = "ZOO_TRUST_BUNDLES"
ONNX_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}
HOST_OPS = re.compile(
    r"File|PyFunc|^Py|Save|Restore|Reader|Dataset|Iterator|Summary|Print|^Debug|Send|Recv|Collective|Rpc"
    r"|ImmutableConst|Checkpoint|Snapshot|DecodeProto|EncodeProto|LoadAndRemap|Shell|Exec")


class UntrustedBundle(ZooError):
    """A bundle whose graph may touch the host, loaded without `trust=true`."""


def trusted_by_environment() -> bool:
    return os.environ.get(TRUST_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def refuse(path: Path, what: str) -> UntrustedBundle:
    return UntrustedBundle(f"bundle {path} is refused: {what}; such a graph can read or write files or run "
                           f"code on this machine. Load it only if you trust where it came from: "
                           f"trust=true (or {TRUST_VARIABLE}=1)")


def inside(bundle: Path, name: Any, what: str) -> Path:
    """`bundle / name`, refused unless it is a relative path that stays inside the bundle."""
    if not isinstance(name, str) or not name:
        raise ZooError(f"bundle {bundle}: {what} must be a file name, got {name!r:.60}: export the run again")
    target = (bundle / name).resolve()
    root = bundle.resolve()
    if Path(name).is_absolute() or (target != root and root not in target.parents):
        raise ZooError(f"bundle {bundle}: {what} {name!r} points outside the bundle folder: a bundle may "
                       "only name its own files (export the run again)")
    return bundle / name


def check_onnx(path: Path, bundle: Path, trusted: bool = False) -> None:
    """External data outside the bundle is refused always; custom-op domains unless `trusted`."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's errors have no common type
        raise ZooError(f"bundle {bundle}: {path.name} is not a readable ONNX model ({exc}): export the run "
                       "again") from None
    graphs, domains = [model.graph], set()
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            domains.add(node.domain)
            for attribute in node.attribute:
                graphs += [attribute.g] if attribute.HasField("g") else []
                graphs += list(attribute.graphs)
        for tensor in graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                location = next((e.value for e in tensor.external_data if e.key == "location"), "")
                inside(path.parent, location, f"the external data of tensor {tensor.name!r}")
    custom = sorted(domains - ONNX_DOMAINS)
    if custom and not trusted:
        raise refuse(bundle, f"its ONNX graph uses custom operator domain(s) {', '.join(custom)}")


def _reachable_ops(meta_graph: Any, signature: str) -> set[str]:
    """Op types the signature's outputs depend on, through the graph and the functions it calls."""
    graph = meta_graph.graph_def
    library = {f.signature.name: f for f in graph.library.function}
    nodes = {n.name: n for n in graph.node}
    outputs = meta_graph.signature_def[signature].outputs.values()
    pending = [t.name.split(":")[0] for t in outputs]
    ops: set[str] = set()
    seen_nodes: set[str] = set()
    seen_functions: set[str] = set()

    def functions_of(node: Any) -> list[str]:
        names = []
        for value in node.attr.values():
            if value.HasField("func"):
                names.append(value.func.name)
            names += [f.name for f in value.list.func]
        return names

    calls: list[str] = []
    while pending:
        name = pending.pop().lstrip("^").split(":")[0]
        if name in seen_nodes or name not in nodes:
            continue
        seen_nodes.add(name)
        node = nodes[name]
        ops.add(node.op)
        pending += list(node.input)
        calls += functions_of(node)
    while calls:
        name = calls.pop()
        if name in seen_functions:
            continue
        seen_functions.add(name)
        if name not in library:
            ops.add(name)  # an op called through a function attribute
            continue
        for node in library[name].node_def:
            ops.add(node.op)
            calls += functions_of(node)
            if node.op in library:
                calls.append(node.op)
    return ops


def check_savedmodel(path: Path, bundle: Path) -> None:
    """The serving signature must reach no operation that touches the host."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as exc:  # noqa: BLE001 - a DecodeError, or a missing file
        raise ZooError(f"bundle {bundle}: {path.name}/saved_model.pb is not readable ({exc}): export the run "
                       "again") from None
    meta_graph = next((m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags), None)
    if meta_graph is None or "serving_default" not in meta_graph.signature_def:
        raise ZooError(f"bundle {bundle}: {path.name} has no serving_default signature: export the run again")
    bad = sorted(op for op in _reachable_ops(meta_graph, "serving_default") if HOST_OPS.search(op))
    if bad:
        raise refuse(bundle, f"its SavedModel runs operation(s) that touch the host: {', '.join(bad[:6])}")


def check_tflite(interpreter: Any, bundle: Path) -> None:
    """Builtin ops are fine; Flex (TensorFlow) ops are judged like a SavedModel's; custom ops refused."""
    from zoo.core.compat import tflite_op_names

    bad = sorted({op for op in tflite_op_names(interpreter)
                  if HOST_OPS.search(op.removeprefix("Flex")) or (op and not op.isupper() and
                                                                  not op.startswith("Flex"))})
    if bad:
        raise refuse(bundle, f"its TFLite model uses operation(s) {', '.join(bad[:6])}")
