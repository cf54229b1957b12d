"""`export(run_dir, format=...)`: a run folder in, a checked, self-describing bundle out."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError
from zoo.export import bundle as files
from zoo.export import convert
from zoo.export.convert import MODEL_FILES, QUANTIZE, ExportError
from zoo.export.runners import KerasRunner, open_runner
from zoo.export.signature import describe, input_signature
from zoo.export.verify import compare, run_batches

log = logging.getLogger("zoo.export")
MAX_VERIFY_EXAMPLES = 2048


def check_options(fmt: str, quantize: str) -> None:
    """A one-line error for an unknown format or a quantization the format does not offer."""
    if fmt not in MODEL_FILES:
        raise ZooError(f"format={fmt!r}: expected one of {', '.join(MODEL_FILES)}")
    if quantize not in QUANTIZE[fmt]:
        raise ZooError(f"quantize={quantize!r} is not available for format={fmt}: "
                       f"expected one of {', '.join(QUANTIZE[fmt])}")


def as_inputs(features: Any, specs: list[Any]) -> list[np.ndarray]:
    """Model features (an array, a tuple or a dict of them) as a list in signature order."""
    if isinstance(features, dict):
        return [np.asarray(features[s.name]) for s in specs]
    if isinstance(features, tuple | list):
        return [np.asarray(f) for f in features]
    return [np.asarray(features)]


def split_arrays(split: Any, info: Any, specs: list[Any], limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to `limit` normalised examples of a split as model inputs and labels."""
    from zoo.data.pipeline import eval_stream

    chunks, labels, n = [], [], 0
    for features, label in eval_stream(split, info, 256, cache=False):
        chunks.append(as_inputs(features, specs))
        labels.append(np.asarray(label))
        n += len(labels[-1])
        if n >= limit:
            break
    inputs = [np.concatenate([c[i] for c in chunks])[:limit] for i in range(len(specs))]
    return inputs, np.concatenate(labels)[:limit]


def write_artifact(fmt: str, quantize: str, model: Any, specs: list[Any], path: Path, opset: int,
                   representative: Any) -> Any:
    """Convert; returns an in-process runner for formats verified in memory (Keras int8)."""
    if fmt == "onnx":
        convert.to_onnx(model, specs, path, opset)
    elif fmt == "savedmodel":
        convert.to_savedmodel(model, specs, path)
    elif fmt == "tflite":
        convert.to_tflite(model, specs, path, quantize, representative)
    else:
        names = [s.name for s in specs]
        return KerasRunner(path, names, model=convert.to_keras_int8(model, path, quantize))
    return None


def run_artifact(runner: Any, inputs: list[np.ndarray]) -> np.ndarray:
    """The artifact's outputs; a TFLite model needing TF Select ops is named, not a traceback."""
    try:
        return run_batches(runner.run, inputs, 256)
    except RuntimeError as exc:
        if "Select TensorFlow op" not in str(exc):
            raise
        raise ExportError("the TFLite model needs TensorFlow Select (Flex) ops, which the TFLite interpreter "
                          "cannot run (recurrent layers lower to them): export format=onnx or savedmodel "
                          "instead") from None


def export(run_dir: str | Path, format: str = "onnx", output: str | Path | None = None, opset: int = 17,
           quantize: str = "none", tolerance: float = 1e-4, max_metric_drop: float = 0.05,
           checkpoint: str = "final", held_out: int = 64, name: str | None = None) -> dict[str, Any]:
    """Export a run's model to `format`, run the artifact against Keras, write the bundle."""
    from zoo.evaluation.evaluate import load_run

    check_options(format, quantize)
    run, cfg, task, splits, model = load_run(run_dir, checkpoint)
    info = splits.info
    specs = input_signature(model, task, info)
    test_inputs, labels = split_arrays(splits.test, info, specs, MAX_VERIFY_EXAMPLES)
    names = [s.name for s in specs]
    reference = run_batches(KerasRunner(None, names, model=model).run, test_inputs, 256)
    suffix = "" if quantize == "none" else f"_{quantize}"
    out = Path(output) if output else run.path / "export" / (format + suffix)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    artifact = out / MODEL_FILES[format]

    def representative():
        inputs, _ = split_arrays(splits.train, info, specs, 200)
        for i in range(len(inputs[0])):
            yield [x[i:i + 1] for x in inputs]

    runner = write_artifact(format, quantize, model, specs, artifact, opset, representative)
    try:
        exported = run_artifact(runner or open_runner(format, artifact, names), test_inputs)
    except ExportError:
        shutil.rmtree(out)  # no bundle without its check
        raise
    check = compare(reference, exported, labels, info.task, quantize != "none", tolerance,
                    max_metric_drop, held_out)
    meta = _metadata(run, cfg, info, format, quantize, opset, specs, artifact, check, name)
    _write_bundle(out, run, cfg, task, info, meta)
    meta["bundle"] = str(out)
    if not check["passed"]:
        raise ExportError(f"export check failed: {check['failure']} (figures in {out / files.EXPORT_JSON})")
    log.info("exported %s to %s: %s", run.path, artifact, check)
    return meta


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _metadata(run: Any, cfg: Any, info: Any, fmt: str, quantize: str, opset: int, specs: list[Any],
              artifact: Path, check: dict[str, Any], name: str | None) -> dict[str, Any]:
    outputs = "probabilities" if info.task == "classification" else "values"
    return {
        "name": name or f"{cfg.model.name}_{info.name}".replace("/", "_"),
        "format": fmt, "model_file": artifact.name, "quantize": quantize,
        "opset": opset if fmt == "onnx" else None,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_dir": str(run.path.resolve()), "model": cfg.model.name, "dataset": info.name,
        "task": info.task, "modality": info.modality, "inputs": describe(specs),
        "outputs": {"kind": outputs, "class_names": info.class_names},
        "preprocessing": {"normalize": info.mean is not None, "mean": info.mean, "std": info.std},
        "sizes": {"artifact_bytes": _size(artifact), "keras_bytes": _size(run.model)},
        "verification": check,
    }


def _write_bundle(out: Path, run: Any, cfg: Any, task: Any, info: Any, meta: dict[str, Any]) -> None:
    from zoo.training.rundir import write_json

    extra = [Path(p) for p in getattr(task, "export_assets", lambda r: [])(run)]
    meta["assets"] = files.copy_assets(run.path, out, extra)
    write_json(out / files.EXPORT_JSON, meta)
    info.save(out / files.DATASET_JSON)
    shutil.copy2(run.config, out / files.CONFIG_YAML)
    card = files.model_card(meta, info.to_dict(), run.path, cfg.get("description") or "")
    (out / files.MODEL_CARD).write_text(card)
