"""The models served: bundles given by path (version 1 each), or a repository folder of numbered versions.

A repository is laid out as TF Serving's `base_path`: `DIR/NAME/1/`, `DIR/NAME/2/`, ... each a bundle
folder (`export.json`), plus an optional `DIR/NAME/labels.json` (`{"stable": 1, "canary": 2}`). It is
scanned every `poll_s` seconds: a new version is loaded in a thread and checked (a probe input must
give finite outputs) before it is served; until then, and if it fails, the versions already loaded go
on serving. Requests without a version go to the highest available one. A version whose folder is
removed stops taking requests, finishes those queued, and is unloaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError, first_line
from zoo.runtime.bundle import EXPORT_JSON, Bundle, NonFiniteOutputs, check_finite
from zoo.runtime.profile import load_profile
from zoo.serving.batcher import INLINE_BYTES, DynamicBatcher
from zoo.serving.codec import ApiError
from zoo.serving.drift import DriftMonitor
from zoo.serving.metrics import ServerMetrics
from zoo.serving.options import ServeOptions

log = logging.getLogger("zoo.serve")
LABELS_JSON = "labels.json"
VERSION = re.compile(r"(0|[1-9][0-9]{0,17})")  # ASCII digits only, no leading zero, fits an int64


def parse_version(value: Any) -> int | None:
    """The one reading of a version number, for routes, folder names and labels.json alike: a JSON
    integer or a string of ASCII digits without a leading zero (`1`, `12`; not `01`, `1.0`, `true`,
    `-1`, `²` or other scripts' digits); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10 ** 18 else None
    if isinstance(value, str) and VERSION.fullmatch(value):
        return int(value)
    return None


def signature(bundle: Bundle) -> list[tuple[str, str, tuple]]:
    return [(s["name"], s["dtype"], tuple(s["shape"][1:])) for s in bundle.inputs]


class Once:
    """Log a problem once, and again only when it changes (not on every repository poll)."""

    def __init__(self) -> None:
        self.said: dict[str, str] = {}

    def warn(self, key: str, message: str) -> None:
        if self.said.get(key) != message:
            self.said[key] = message
            log.warning("%s", message)

    def clear(self, key: str) -> None:
        self.said.pop(key, None)


def probe_inputs(bundle: Bundle) -> list[np.ndarray]:
    """One example the model must take: a text (pair) for a text bundle, else zeros / empty strings."""
    if bundle.takes_text:
        return bundle.encode_texts([("probe", "probe")] if bundle.text_spec.get("pairs") else ["probe"])
    arrays = []
    for spec in bundle.inputs:
        shape = [1, *[1 if d is None else int(d) for d in spec["shape"][1:]]]
        arrays.append(np.full(shape, "", dtype=object) if spec["dtype"] == "string"
                      else np.zeros(shape, spec["dtype"]))
    return arrays


class ServedVersion:
    """One loaded, checked bundle behind its batcher, with its drift monitor."""

    def __init__(self, model: str, version: int, bundle: Bundle, options: ServeOptions,
                 executor: ThreadPoolExecutor, metrics: ServerMetrics):
        self.model, self.version, self.bundle = model, version, bundle
        self.loaded = int(time.time())
        probe = probe_inputs(bundle)
        bundle.outputs(probe)  # the first call of a session is slower: time the second
        started = time.perf_counter()
        outputs = bundle.outputs(probe)
        probe_s = time.perf_counter() - started
        bad = [name for name, v in outputs.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise ZooError(f"{bundle.path}: the probe input gave non-finite {', '.join(bad)}: "
                           "export the run again")
        self.output_specs = [{"name": name, "dtype": v.dtype.name, "shape": [None, *v.shape[1:]]}
                             for name, v in outputs.items()]
        profile = load_profile(bundle.path)
        self.drift = DriftMonitor(profile, bundle.inputs, options.drift_window) if profile else None
        self.batcher = DynamicBatcher(self._run, executor, options.max_batch, options.batch_window_ms,
                                      options.max_queue, options.request_timeout_s, options.model_threads,
                                      metrics.batch_observer(model, str(version)), options.inline_ms)
        self.batcher.recent_s = probe_s  # where the batcher starts: inline or in a thread
        metrics.queue_depth.labels(model, str(version)).set_function(lambda: self.batcher.depth)

    def _run(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        return self.bundle.outputs(inputs)

    async def infer(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs of one request's inputs (batched with others'): instances whose outputs are not
        finite make it a 400 naming them; only answered requests count towards drift."""
        outputs = await self.batcher.submit(inputs)
        try:
            check_finite(outputs, what="instance")
        except NonFiniteOutputs as exc:
            raise ApiError(400, str(exc)) from None
        if self.drift is not None:  # summing large images takes a while: off the event loop then
            if sum(x.nbytes for x in inputs) > INLINE_BYTES:
                await asyncio.to_thread(self.drift.observe, inputs)
            else:
                self.drift.observe(inputs)
        return outputs


class ModelEntry:
    """A model's versions: those served, each version's TF Serving state, and version labels."""

    def __init__(self, name: str):
        self.name = name
        self.versions: dict[int, ServedVersion] = {}
        self.states: dict[int, tuple[str, str]] = {}  # version -> (state, error message)
        # version -> its folder's stamp and the default version at its last load attempt (a version
        # refused for its inputs is tried again when the default it was judged against is gone)
        self.stamps: dict[int, Any] = {}
        self.labels: dict[str, int] = {}

    def number(self, version: str) -> int:
        """A version given in a route, read by `parse_version`; anything else is a 400."""
        number = parse_version(version)
        if number is None:
            raise ApiError(400, f"version {version!r} of model {self.name!r} is not a version number "
                           "(ASCII digits without a leading zero, like 1 or 12)")
        return number

    def resolve(self, version: str | None = None, label: str | None = None) -> ServedVersion:
        """The version a request names (by number or label), else the highest available."""
        if label is not None:
            if label not in self.labels:
                known = ", ".join(f"{k}={v}" for k, v in self.labels.items()) or "none"
                raise ApiError(404, f"model {self.name!r} has no version label {label!r} (labels: {known})")
            version = str(self.labels[label])
        if version is None:
            if not self.versions:
                raise ApiError(503, f"model {self.name!r} has no version available yet",
                               {"Retry-After": "1"})
            return self.versions[max(self.versions)]
        number = self.number(version)
        if number not in self.versions:
            served = ", ".join(map(str, sorted(self.versions))) or "none"
            raise ApiError(404, f"model {self.name!r} has no available version {version} "
                           f"(available: {served})")
        return self.versions[number]

    def status(self) -> list[dict[str, Any]]:
        """TF Serving's `model_version_status`, newest first."""
        return [{"version": str(v), "state": state,
                 "status": {"error_code": "OK" if not error else "UNKNOWN", "error_message": error}}
                for v, (state, error) in sorted(self.states.items(), reverse=True)]


def _shown(bundle: Bundle) -> str:
    return ", ".join(f"{n} {d}{list(s)}" for n, d, s in signature(bundle))


def read_labels(path: Path) -> dict[str, int]:
    """`{"label": version}` from a labels.json file ({} when there is none); a ZooError says what is
    wrong with it."""
    if not path.exists():
        return {}
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"not readable JSON ({first_line(exc)})") from None
    if not isinstance(labels, dict):
        raise ZooError(f'expected an object {{"label": version}}, got {type(labels).__name__}')
    out = {}
    for label, value in labels.items():
        number = parse_version(value)
        if number is None:
            raise ZooError(f"label {label!r} is {json.dumps(value)[:40]}, not a version number (a whole "
                           'number 0 or above, like {"stable": 1})')
        out[label] = number
    return out


def _stamp(folder: Path) -> tuple:
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()))


class ModelRepository:
    """Every served model by name; `refresh()` picks up a repository folder's changes."""

    def __init__(self, options: ServeOptions, metrics: ServerMetrics, root: str | Path | None = None,
                 bundles: list[Bundle] | None = None):
        self.options, self.metrics = options, metrics
        self.root = Path(root) if root else None
        self.executor = ThreadPoolExecutor(max(1, options.model_threads), thread_name_prefix="zoo-model")
        self.models: dict[str, ModelEntry] = {}
        self.once = Once()
        for bundle in bundles or []:
            if bundle.name in self.models:
                raise ZooError(f"two bundles are named {bundle.name!r}: export one with name=...")
            entry = self.models[bundle.name] = ModelEntry(bundle.name)
            self._add(entry, 1, bundle)
        if self.root is not None:
            if not self.root.is_dir():
                raise ZooError(f"repository folder {self.root} does not exist: pass a folder holding "
                               "NAME/1/ bundle folders")
            for name, versions in self.scan().items():
                for version, path in versions.items():
                    self._load(self.models.setdefault(name, ModelEntry(name)), version, path)
        self._publish()

    def scan(self) -> dict[str, dict[int, Path]] | None:
        """Model folders under the root and their numbered version folders holding a bundle (None
        when the root cannot be read: then nothing changes)."""
        try:
            folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError as exc:
            self.once.warn("root", f"cannot read the repository {self.root} ({exc.strerror or exc}): "
                           "serving the versions already loaded until it is back")
            return None
        self.once.clear("root")
        found: dict[str, dict[int, Path]] = {}
        for folder in folders:
            versions: dict[int, Path] = {}
            try:
                children = sorted(v for v in folder.iterdir() if v.is_dir() and (v / EXPORT_JSON).exists())
            except OSError:
                continue  # removed while scanning: the next poll sees it gone
            for child in children:
                number = parse_version(child.name)
                if number is None:
                    self.once.warn(str(child), f"ignoring {child}: a version folder is named by a number "
                                   "of ASCII digits without a leading zero (1, 2, ...)")
                    continue
                versions[number] = child
            if versions:
                found[folder.name] = versions
        return found

    def _add(self, entry: ModelEntry, version: int, bundle: Bundle) -> None:
        entry.versions[version] = ServedVersion(entry.name, version, bundle, self.options, self.executor,
                                                self.metrics)
        entry.states[version] = ("AVAILABLE", "")
        log.info("serving %s version %d from %s", entry.name, version, bundle.path)

    def _load(self, entry: ModelEntry, version: int, path: Path) -> None:
        """Load and check one version (in a worker thread when reloading); a failure is recorded."""
        entry.stamps[version] = (_stamp(path), max(entry.versions, default=None))
        try:
            bundle = Bundle(path, trust=self.options.trust or None)
            current = entry.versions.get(max(entry.versions)) if entry.versions else None
            if current is not None and version > current.version and signature(bundle) != signature(
                    current.bundle):
                raise ZooError(f"its inputs ({_shown(bundle)}) differ from those of version "
                               f"{current.version} ({_shown(current.bundle)}), which stays the default: "
                               "serve a model with other inputs under another name")
            self._add(entry, version, bundle)
        except Exception as exc:  # noqa: BLE001 - a broken version must not stop the others
            message = first_line(exc, typed=True)
            entry.states[version] = ("END", f"failed to load {path}: {message}")
            self.metrics.load_failures.labels(entry.name).inc()
            log.warning("model %s version %d not served: %s", entry.name, version, message)

    def _labels(self, entry: ModelEntry) -> None:
        """Read `labels.json`; a broken one is logged once and the labels before it kept."""
        path = self.root / entry.name / LABELS_JSON
        try:
            labels = read_labels(path)
        except ZooError as exc:
            self.once.warn(str(path), f"ignoring {path}: {exc}")
            return
        self.once.clear(str(path))
        entry.labels = labels

    def _publish(self) -> None:
        for entry in self.models.values():
            self.metrics.versions.labels(entry.name).set(len(entry.versions))
            if self.root is not None:
                self._labels(entry)

    async def refresh(self) -> None:
        """Load new or changed versions, unload removed ones (finishing their queued requests)."""
        found = self.scan()
        if found is None:
            return
        for name, versions in found.items():
            entry = self.models.setdefault(name, ModelEntry(name))
            for version, path in sorted(versions.items()):
                if version in entry.versions or entry.stamps.get(version) == (
                        _stamp(path), max(entry.versions, default=None)):
                    continue
                entry.states[version] = ("LOADING", "")
                await asyncio.to_thread(self._load, entry, version, path)
        for name, entry in self.models.items():
            for version in [v for v in entry.versions if v not in found.get(name, {})]:
                served = entry.versions.pop(version)
                entry.states[version] = ("END", "")
                entry.stamps.pop(version, None)
                log.info("unloading %s version %d (its folder is gone)", name, version)
                await served.batcher.close(self.options.drain_timeout_s)
                self.metrics.queue_depth.remove(name, str(version))  # its gauge held the version
        self._publish()

    async def poll(self) -> None:
        """Refresh every `poll_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.options.poll_s)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep polling; the served versions are unaffected
                self.once.warn("poll", f"scanning {self.root} failed: {first_line(exc, typed=True)}")

    def get(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise ApiError(404, f"no model {name!r}: served models are {', '.join(self.models) or 'none'} "
                           "(GET /v1/models)")
        return self.models[name]

    def ready(self) -> bool:
        return bool(self.models) and all(entry.versions for entry in self.models.values())

    async def close(self, by: float | None = None) -> None:
        """Drain every version's batcher, all by `by` (monotonic; else each within the drain timeout)."""
        for entry in self.models.values():
            for served in entry.versions.values():
                drain = self.options.drain_timeout_s if by is None else max(0.0, by - time.monotonic())
                await served.batcher.close(drain)
        self.executor.shutdown(wait=False)
