"""Experiment tracking with MLflow (`tracking=mlflow`): params, per-epoch metrics, artifacts.

MLflow is an optional extra (`pip install "keras-zoo[tracking]"`), imported only when a run asks
for it; nothing here imports TensorFlow. The default store is the folder `./mlruns` (MLflow's file
store: local files, no network); `tracking.uri` names a tracking server or another store. The
MLflow run's id is kept in the run folder (`mlflow.json`), so a resumed run logs on into the same
MLflow run and `zoo export` adds its bundle to it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from zoo.config.bounds import choices_of
from zoo.config.schema import TrackingConfig
from zoo.core.errors import ZooError, first_line, mask_credentials, mask_credentials_in_logs, unknown_name

log = logging.getLogger("zoo.train")
BACKENDS = choices_of(TrackingConfig, "backend")
EXTRA = 'pip install "keras-zoo[tracking]"'
RUN_FILE = "mlflow.json"
DEFAULT_STORE = "mlruns"
BATCH = 100  # MLflow's log_batch takes at most 100 params per call
ARTIFACTS = ("config.yaml", "metrics.json", "report.txt", "report.json", "plots", "samples")


def tracking_backend(cfg: Any) -> str:
    return str(OmegaConf.select(cfg, "tracking.backend", default="none") or "none")


def check_tracking(cfg: Any) -> None:
    """Fail before any work starts on an unknown backend or a missing MLflow (one line each)."""
    backend = tracking_backend(cfg)
    if backend not in BACKENDS:
        raise unknown_name("tracking.backend", backend, BACKENDS, "use tracking=none or tracking=mlflow")
    if backend == "mlflow" and not _installed("mlflow"):
        raise ZooError(f"tracking=mlflow needs MLflow, which is not installed: {EXTRA} "
                       "(or drop tracking=mlflow)")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def store_uri(uri: str | None) -> str:
    """`uri` as MLflow takes it: a plain path (default `./mlruns`) becomes an absolute file URI."""
    if uri and "://" in uri:
        return uri
    return Path(uri or DEFAULT_STORE).expanduser().resolve().as_uri()


def flat_params(cfg: Any) -> dict[str, str]:
    """The resolved config as dotted keys and string values (`trainer.learning_rate` -> `0.002`)."""
    flat: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = mask_credentials(str(node))

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def numbers(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of `values` (nested dicts flattened with `prefix`)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(numbers(value, f"{prefix}{key}_"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


def _quiet_and_local(uri: str) -> None:
    """MLflow settings for a training job: no telemetry, the file store allowed (MLflow 3 asks
    for an opt-in), and a server that does not answer fails in seconds, not minutes."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    else:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")


def _client(uri: str) -> Any:
    _quiet_and_local(uri)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def experiment_of(client: Any, name: str) -> str:
    """The id of experiment `name`, created if need be (sweep jobs may race to create it)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another job created it first
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


class MlflowTracker:
    """One MLflow run beside one zoo run folder, through `mlflow.MlflowClient`."""

    def __init__(self, client: Any, run_id: str, uri: str, artifacts: bool = True):
        self.client, self.run_id, self.uri, self.artifacts = client, run_id, uri, artifacts
        self.failed = False

    @classmethod
    def start(cls, cfg: Any, run_path: Path, resuming: bool) -> MlflowTracker:
        """A new MLflow run with the flattened config as params, or the resumed run's own."""
        t = cfg.tracking
        mask_credentials_in_logs()
        uri = store_uri(t.uri)
        client = _client(uri)
        saved = read_run_file(run_path)
        try:
            if resuming and saved.get("uri") == uri:
                client.update_run(saved["run_id"], status="RUNNING")
                log.info("mlflow: resuming run %s in %s", saved["run_id"], uri)
                tracker = cls(client, saved["run_id"], uri, t.artifacts)
                tracker.backfill(Path(run_path) / "history.csv")
                return tracker
            experiment_id = experiment_of(client, t.experiment)
            tags = {"zoo.run_dir": str(Path(run_path).resolve()), "zoo.model": str(cfg.model.name),
                    "zoo.dataset": str(cfg.dataset.name)}
            run = client.create_run(experiment_id, run_name=t.run_name or Path(run_path).name, tags=tags)
            tracker = cls(client, run.info.run_id, uri, t.artifacts)
            tracker.log_params(flat_params(cfg))
        except Exception as exc:  # MlflowException, connection errors: before any training work
            raise ZooError(mask_credentials(
                f"tracking.uri={t.uri or DEFAULT_STORE}: MLflow could not start a run "
                f"({first_line(exc, limit=200)}); "
                "start the tracking server or fix tracking.uri (or drop tracking=mlflow)")) from None
        write_run_file(run_path, {"run_id": tracker.run_id, "uri": uri, "experiment": t.experiment})
        log.info("mlflow: run %s in %s", tracker.run_id, uri)
        return tracker

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + BATCH])

    def log_metrics(self, values: dict[str, Any], step: int) -> None:
        """Finite numbers of `values` at `step`; a failing server is a warning, never a lost run."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in numbers(values).items()]
        self._safely("log metrics", lambda: self.client.log_batch(self.run_id, metrics=metrics))

    def backfill(self, history: Path) -> None:
        """Log the epochs of `history.csv` that the MLflow run lacks (those of a killed process)."""
        if not history.exists():
            return
        from zoo.run.rundir import read_history

        rows = read_history(history)
        logged = {m.step for m in self.client.get_metric_history(self.run_id, "loss")}
        for i, epoch in enumerate(rows.get("epoch", [])):
            if int(epoch) not in logged:
                self.log_metrics({k: v[i] for k, v in rows.items() if k != "epoch"}, step=int(epoch))

    def log_artifacts(self, paths: Iterable[Path], under: str | None = None) -> None:
        """Files and folders (those that exist) as artifacts of the run."""
        if not self.artifacts:
            return
        for path in paths:
            if path.is_dir() and any(path.iterdir()):
                where = f"{under}/{path.name}" if under else path.name
                self._safely(f"log {path.name}/", lambda p=path, w=where: self.client.log_artifacts(
                    self.run_id, str(p), w))
            elif path.is_file():
                self._safely(f"log {path.name}", lambda p=path: self.client.log_artifact(
                    self.run_id, str(p), under))

    def finish(self, run_path: Path, metrics: dict[str, Any]) -> None:
        """Test metrics and training time, the run folder's artifacts, and the run marked done."""
        step = int(metrics.get("epochs") or 0)
        self.log_metrics({f"test_{k}": v for k, v in numbers(metrics.get("test", {})).items()}, step)
        self.log_metrics({"train_seconds": metrics.get("train_seconds")}, step)
        self.log_artifacts(Path(run_path) / name for name in ARTIFACTS)
        self.end("FINISHED")

    def end(self, status: str) -> None:
        self._safely("end the run", lambda: self.client.set_terminated(self.run_id, status))

    def _safely(self, what: str, call: Any) -> None:
        try:
            call()
        except Exception as exc:  # the run folder keeps everything: tracking is a copy
            if not self.failed:
                log.warning("mlflow: could not %s (%s); the run folder keeps everything, training "
                            "goes on", what, first_line(exc, limit=200))
            self.failed = True


def read_run_file(run_path: Path) -> dict[str, Any]:
    path = Path(run_path) / RUN_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}


def write_run_file(run_path: Path, data: dict[str, Any]) -> None:
    from zoo.run.rundir import write_json

    write_json(Path(run_path) / RUN_FILE, data)


def log_bundle(run_path: Path, cfg: Any, bundle: Path) -> None:
    """Add an exported bundle to the MLflow run of a `tracking=mlflow` training run (else nothing)."""
    saved = read_run_file(run_path)
    if tracking_backend(cfg) != "mlflow" or not saved or not _installed("mlflow"):
        return
    tracker = MlflowTracker(_client(saved["uri"]), saved["run_id"], saved["uri"])
    tracker.log_artifacts([Path(bundle)], under="export")
    log.info("mlflow: bundle %s logged to run %s", bundle, saved["run_id"])
