"""`evaluate(run_dir)`: reload a finished run and score it on a split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from zoo.config.bounds import choices_of
from zoo.config.schema import CHECKPOINTS, EvaluateConfig
from zoo.core.errors import RunDirError, ZooError
from zoo.core.registry import get_registry

log = logging.getLogger("zoo.evaluate")
SPLITS = choices_of(EvaluateConfig, "split")


def _load_model(run: Any, checkpoint: str, cfg: Any, splits: Any) -> Any:
    """Rebuild the run's model through its plugin (so custom layers are known), load weights."""
    path = {"final": run.model, "best": run.best_weights, "last": run.last_weights}[checkpoint]
    if not path.exists():
        advice = ("the run did not finish; evaluate checkpoint=last or checkpoint=best instead"
                  if checkpoint == "final" else f"this run saved no {checkpoint} checkpoint")
        raise RunDirError(f"{path} is missing: {advice}")
    from zoo.preprocessing.assemble import load_final_weights

    model = get_registry().model(cfg.model.name).build(cfg.model, splits.info)
    try:
        if checkpoint == "final":
            load_final_weights(model, path, splits.preprocessor, splits.info.features)
        else:
            model.load_weights(path)
    except Exception as exc:  # a truncated zip/HDF5 file fails in many ways inside Keras and h5py
        others = [c for c in CHECKPOINTS if c != checkpoint]
        raise RunDirError(f"{path} is corrupt or truncated ({type(exc).__name__}): use checkpoint="
                          f"{others[0]} or checkpoint={others[1]} instead, or train the run again "
                          "(trainer.overwrite=true)") from None
    return model


def load_run(run_dir: str | Path, checkpoint: str) -> tuple[Any, ...]:
    """The run's folder, config, parts (`zoo.tasks.select.Parts`), prepared splits and rebuilt Keras
    network (which takes preprocessed inputs; `parts.export.saved_model(model, splits)` puts the
    preprocessor in front)."""
    from zoo.run.rundir import open_finished
    from zoo.tasks.select import build_parts

    run, cfg = open_finished(run_dir)
    registry = get_registry()
    parts = build_parts(cfg, run, registry, modes=False)  # scored as the family's own run
    splits = registry.dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
    splits = parts.data.prepare(splits, fit=False)
    model = _load_model(run, checkpoint, cfg, splits)
    return run, cfg, parts, splits, model


def evaluate(run_dir: str | Path, split: str = "test", checkpoint: str = "final",
             batch_size: int = 128, output: str | Path | None = None) -> dict[str, Any]:
    """Score a run's model on `split`; writes `metrics.json`, `report.json/.txt` and plots."""
    from zoo.core.progress import Progress
    from zoo.data.pipeline import eval_stream
    from zoo.evaluation.artifacts import write_evaluation
    from zoo.evaluation.progress import batches, counted
    from zoo.run.rundir import write_json

    if split not in SPLITS:
        raise ZooError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
    if checkpoint not in CHECKPOINTS:
        raise ZooError(f"checkpoint={checkpoint!r}: expected one of {', '.join(CHECKPOINTS)}")
    run, cfg, parts, splits, model = load_run(run_dir, checkpoint)
    info = splits.info
    dataset = eval_stream(getattr(splits, split), info, batch_size, cache=False)
    with Progress(f"evaluate {split}", batches(dataset)) as progress:
        evaluation = parts.evaluation.evaluate(model, counted(dataset, progress), splits)
    out = Path(output) if output else run.evaluation
    out.mkdir(parents=True, exist_ok=True)
    result = {"task": info.task, "split": split, "checkpoint": checkpoint, split: evaluation.metrics}
    write_json(out / "metrics.json", result)
    write_evaluation(evaluation, info, out, plots=True, plot_dir=out)
    log.info("%s metrics of %s (%s): %s", split, run.path, checkpoint,
             ", ".join(f"{k}={v:.4f}" for k, v in evaluation.metrics.items()))
    return result
