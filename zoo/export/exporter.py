"""`export(run_dir, format=...)`: a run folder in, checked, self-describing bundles out (one per part)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config.bounds import choices_of
from zoo.config.commands import ExportOptions as D
from zoo.core.errors import RunDirError, ZooError
from zoo.export import bundle as files
from zoo.export import convert
from zoo.export.atomic import check_target, staging
from zoo.export.convert import MODEL_FILES, QUANTIZE, ExportError
from zoo.export.verify import compare, run_batches
from zoo.runtime.bundle import CONFIG_YAML, DATASET_JSON, EXPORT_JSON, MODEL_CARD
from zoo.runtime.export_meta import ExportMeta
from zoo.runtime.runners import KerasRunner, flatten_outputs, open_runner
from zoo.runtime.signature import describe
from zoo.tasks.export_parts import DEFAULT_PART, ExportPart, as_inputs, export_parts, sample_arrays, select

__all__ = ["as_inputs", "check_options", "export", "sample_arrays"]
log = logging.getLogger("zoo.export")
MAX_VERIFY_EXAMPLES = 2048


class ExportCheckFailed(ExportError):
    """The exported artifact does not match the Keras model closely enough (a failure: exit 1)."""

    exit_code = 1


def check_options(fmt: str, quantize: str) -> None:
    """A one-line error for an unknown format or a quantization the format does not offer."""
    formats = choices_of(D, "format")
    if fmt not in formats:
        raise ZooError(f"format={fmt!r}: expected one of {', '.join(formats)}")
    if quantize not in QUANTIZE[fmt]:
        raise ZooError(f"quantize={quantize!r} is not available for format={fmt}: "
                       f"expected one of {', '.join(QUANTIZE[fmt])}")


def write_artifact(fmt: str, quantize: str, model: Any, specs: list[Any], path: Path, opset: int,
                   representative: Any, features: list[dict[str, Any]] | None = None) -> Any:
    """Convert; returns an in-process runner for formats verified in memory (Keras int8)."""
    if fmt == "onnx":
        convert.to_onnx(model, specs, path, opset, features)
    elif fmt == "savedmodel":
        convert.to_savedmodel(model, specs, path)
    elif fmt == "tflite":
        convert.to_tflite(model, specs, path, quantize, representative, features)
    else:
        names = [s.name for s in specs]
        return KerasRunner(path, names, model=convert.to_keras_int8(model, path, quantize))
    return None


def run_artifact(runner: Any, inputs: list[np.ndarray], label: str = "") -> np.ndarray:
    """The artifact's outputs (several are flattened side by side); a TFLite model needing TF Select
    ops is named, not a traceback."""
    try:
        return run_batches(lambda xs: flatten_outputs(runner.run_all(xs)), inputs, 256, label)
    except RuntimeError as exc:
        if "Select TensorFlow op" not in str(exc):
            raise
        raise ExportError("the TFLite model needs TensorFlow Select (Flex) ops, which the TFLite interpreter "
                          "cannot run (recurrent layers lower to them): export format=onnx or savedmodel "
                          "instead") from None


def export(run_dir: str | Path, format: str = D.format, output: str | Path | None = None,
           opset: int = D.opset, quantize: str = D.quantize, tolerance: float = D.tolerance,
           max_metric_drop: float = D.max_metric_drop, checkpoint: str = D.checkpoint,
           held_out: int = 64, name: str | None = None, part: str = D.part) -> dict[str, Any]:
    """Export a run's model(s) to `format`, run each artifact against Keras, write the bundle(s).

    Returns the bundle's metadata; a family of several parts (a VAE's encoder and decoder) writes
    one bundle per part in sub-folders and returns `{"bundle": folder, "parts": {part: metadata}}`
    unless `part=` picks one.
    """
    from zoo.evaluation.evaluate import load_run

    check_options(format, quantize)
    suffix = "" if quantize == "none" else f"_{quantize}"
    base = Path(os.path.abspath(output)) if output else Path(run_dir) / "export" / (format + suffix)
    if not Path(run_dir).is_dir():
        raise RunDirError(f"run folder {run_dir} does not exist: pass the folder `zoo train` printed")
    check_target(base, Path(run_dir))  # before any work: a folder the export must not replace
    options = {"fmt": format, "quantize": quantize, "opset": opset, "tolerance": tolerance,
               "max_metric_drop": max_metric_drop, "held_out": held_out}
    metas = {}
    with staging(base) as stage:  # every part passes its check, or the old bundle stays as it was
        run, cfg, roles, splits, model = load_run(run_dir, checkpoint)
        parts = export_parts(model, roles.export, splits)
        chosen = select(parts, part)
        nested = len(parts) > 1 and not (output and len(chosen) == 1)
        if nested:
            stage.keep_parts({item.name for item in chosen})
        for item in chosen:
            out, final = (stage.path / item.name, base / item.name) if nested else (stage.path, base)
            bundle_name = name or f"{cfg.model.name}_{splits.info.name}".replace("/", "_")
            if item.name != DEFAULT_PART and (not name or len(chosen) > 1):
                bundle_name = f"{bundle_name}_{item.name}"
            metas[item.name] = _export_part(item, out, final, run, cfg, roles.export, splits.info,
                                            bundle_name, options)
        stage.commit()
    from zoo.run.tracking import log_bundle

    log_bundle(Path(run_dir), cfg, base)  # a tracking=mlflow run: the bundle joins its MLflow run
    if len(metas) == 1:
        return next(iter(metas.values()))
    return {"bundle": str(base), "parts": metas}


def _export_part(item: ExportPart, out: Path, final: Path, run: Any, cfg: Any, export: Any, info: Any,
                 name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Convert one part, check it against Keras on held-out inputs, write its bundle into `out`
    (a staging folder that becomes `final` once every part passed)."""
    fmt, quantize = options["fmt"], options["quantize"]
    if fmt == "onnx" and quantize != "none" and item.companions is None:
        raise ExportError(f"quantize={quantize} for format=onnx quantises a language model's cached decoder "
                          "only: export this model with quantize=none, or format=tflite quantize=int8")
    float_check = fmt == "onnx"  # an ONNX part itself stays float32 (its companions may not)
    names = [s.name for s in item.specs]
    test_inputs, labels = item.sample("test", MAX_VERIFY_EXAMPLES)
    keras_runner = KerasRunner(None, names, model=item.model)
    what = fmt if item.name == DEFAULT_PART else f"{item.name} {fmt}"
    reference = run_batches(lambda xs: flatten_outputs(keras_runner.run_all(xs)), test_inputs, 256,
                            f"check {what}: keras outputs")
    out.mkdir(parents=True, exist_ok=True)
    artifact = out / MODEL_FILES[fmt]

    def representative():
        inputs, _ = item.sample("train", 200)
        for i in range(len(inputs[0])):
            yield [x[i:i + 1] for x in inputs]

    runner = write_artifact(fmt, quantize, item.model, item.specs, artifact, options["opset"], representative,
                            item.features)
    exported = run_artifact(runner or open_runner(fmt, artifact, names), test_inputs,
                            f"check {what}: exported outputs")
    check = compare(reference, exported, labels if item.metric_task else None, item.metric_task or "",
                    quantize != "none" and not float_check, options["tolerance"] * item.tolerance_scale,
                    options["max_metric_drop"], options["held_out"])
    meta = _metadata(run, cfg, info, item, fmt, quantize, options["opset"], artifact, check, name)
    if item.companions is not None and fmt == "onnx" and check["passed"]:
        meta.outputs = {**meta.outputs, **item.companions(out, {**options, "artifact": artifact})}
    _write_bundle(out, run, cfg, export, info, meta)
    if item.input_kind == "data":  # what `zoo serve` compares live inputs with (drift)
        from zoo.runtime.profile import write_training_profile

        write_training_profile(out, item.sample("train", 2048)[0], meta.inputs)
    if not check["passed"]:
        kept = f"the bundle at {final} is unchanged" if final.exists() else f"nothing was written to {final}"
        raise ExportCheckFailed(f"export check failed: {check['failure']}; {kept}")
    log.info("exported %s (%s) to %s: %s", run.path, item.name, artifact, check)
    return {**meta.to_dict(), "bundle": str(final)}


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _metadata(run: Any, cfg: Any, info: Any, item: ExportPart, fmt: str, quantize: str, opset: int,
              artifact: Path, check: dict[str, Any], name: str) -> ExportMeta:
    return ExportMeta(
        name=name, part=item.name, description=item.description, format=fmt,
        model_file=artifact.name, quantize=quantize,
        opset=opset if fmt == "onnx" else None,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run_dir=str(run.path.resolve()), model=cfg.model.name, dataset=info.name,
        task=info.task, modality=info.modality, input_kind=item.input_kind,
        inputs=describe(item.specs, item.features), outputs=item.outputs,
        preprocessing=item.preprocessing,
        sizes={"artifact_bytes": _size(artifact), "keras_bytes": _size(run.model)},
        verification=check,
    )


def _write_bundle(out: Path, run: Any, cfg: Any, export: Any, info: Any, meta: ExportMeta) -> None:
    extra = [Path(p) for p in export.assets()]
    meta.assets = files.copy_assets(run.path, out, extra)
    meta.save(out / EXPORT_JSON)
    info.save(out / DATASET_JSON)
    shutil.copy2(run.config, out / CONFIG_YAML)
    card = files.model_card(meta.to_dict(), info.to_dict(), run.path, cfg.get("description") or "")
    (out / MODEL_CARD).write_text(card)
