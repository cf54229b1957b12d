"""Training end to end: accuracy, run folder, evaluate, resume, determinism, strategies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_zoo, train_interrupted

import zoo
from zoo.core.errors import RunDirError, ZooError


def quick(*overrides: str) -> list[str]:
    return ["trainer.plots=false", "trainer.tensorboard=false", *overrides]


def weights_of(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def assert_same_weights(a, b, atol: float) -> None:
    for wa, wb in zip(weights_of(a), weights_of(b), strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol, rtol=0)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The README's main job: `zoo train` with no overrides (CNN on scikit-learn digits)."""
    run_dir = tmp_path_factory.mktemp("runs") / "default"
    proc = run_zoo("train", f"hydra.run.dir={run_dir}", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc


def test_default_job_beats_097_and_prints_accuracy(default_run):
    run_dir, proc = default_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.97
    assert f"test accuracy: {metrics['test']['accuracy']:.4f}" in proc.stdout
    assert metrics["train"]["accuracy"] > 0.9 and "accuracy" in metrics["validation"]


def test_run_folder_holds_every_artifact(default_run):
    run_dir, _ = default_run
    for name in ("config.yaml", "train.log", "dataset.json", "metrics.json", "history.csv",
                 "model.keras", "report.json", "report.txt", "checkpoints/best.weights.h5",
                 "checkpoints/last.weights.h5", "checkpoints/state.json",
                 "plots/learning_curves.png", "plots/confusion_matrix.png"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert "name: cnn" in (run_dir / "config.yaml").read_text()
    assert "epoch 30/30" in (run_dir / "train.log").read_text()
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 31
    assert (run_dir / "plots/learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run_dir / "checkpoints/state.json").read_text())["epoch"] == 30


def test_evaluate_reproduces_test_metrics_and_writes_report(default_run):
    run_dir, _ = default_run
    trained = json.loads((run_dir / "metrics.json").read_text())["test"]
    proc = run_zoo("evaluate", f"run_dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluated = json.loads((run_dir / "evaluation/metrics.json").read_text())["test"]
    assert evaluated["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-6)
    report = json.loads((run_dir / "evaluation/report.json").read_text())
    assert {str(d) for d in range(10)} <= set(report)
    assert {"precision", "recall", "f1-score"} <= set(report["3"])
    assert (run_dir / "evaluation/confusion_matrix.png").is_file()
    assert "f1" in proc.stdout and "accuracy" in proc.stdout


@pytest.mark.parametrize("checkpoint", ["best", "last"])
def test_evaluate_api_scores_best_and_last_checkpoints(default_run, checkpoint, tmp_path):
    run_dir, _ = default_run
    result = zoo.evaluate(run_dir, checkpoint=checkpoint, output=tmp_path / checkpoint)
    assert result["checkpoint"] == checkpoint and result["test"]["accuracy"] > 0.95
    assert (tmp_path / checkpoint / "report.txt").is_file()


def test_finished_run_is_never_overwritten(default_run):
    run_dir, _ = default_run
    before = {p: p.read_bytes() for p in (run_dir / "metrics.json", run_dir / "config.yaml")}
    proc = run_zoo("train", f"hydra.run.dir={run_dir}", "trainer.epochs=1")
    assert proc.returncode == 2
    assert "already holds a finished run" in proc.stderr and "trainer.overwrite=true" in proc.stderr
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize(("experiment", "metric", "bound"), [
    ("mlp_breast_cancer", "accuracy", 0.90),
    ("mlp_iris", "accuracy", 0.85),
    ("mlp_wine", "accuracy", 0.85),
    ("mlp_digits", "accuracy", 0.90),
])
def test_classification_experiments_beat_chance(tmp_path, experiment, metric, bound):
    result = zoo.train(zoo.compose([f"experiment={experiment}", *quick()]), tmp_path / "run")
    assert result.metrics["test"][metric] >= bound
    assert {"precision", "recall", "f1"} <= set(result.metrics["test"])


def test_regression_experiment_reports_mae_mse_r2(tmp_path):
    result = zoo.train(zoo.compose(["experiment=mlp_diabetes", "trainer.epochs=60", *quick()]),
                       tmp_path / "run")
    test = result.metrics["test"]
    assert {"mae", "mse", "r2"} <= set(test)
    assert test["r2"] > 0.3  # the mean predictor has r2 = 0
    assert "accuracy" not in test


def test_resnet_variant_trains(tmp_path):
    cfg = zoo.compose(["experiment=resnet_digits", "trainer.epochs=6", *quick()])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["test"]["accuracy"] > 0.8
    assert any("_add" in layer.name for layer in result.model.layers)


def test_resumed_run_equals_uninterrupted(tmp_path, monkeypatch):
    overrides = ["experiment=mlp_iris", "trainer.epochs=4", "model.dropout=0.2", *quick()]
    whole = zoo.train(zoo.compose(overrides), tmp_path / "whole")
    train_interrupted(zoo.compose(overrides), tmp_path / "resumed", monkeypatch, after_epoch=1)
    state = json.loads((tmp_path / "resumed/checkpoints/state.json").read_text())
    assert state["epoch"] == 2 and not (tmp_path / "resumed/metrics.json").exists()
    resumed = zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    assert "resumed from epoch 2" in (tmp_path / "resumed/train.log").read_text()
    assert_same_weights(whole.model, resumed.model, atol=1e-6)
    assert resumed.metrics["epochs"] == 4
    assert resumed.metrics["test"]["accuracy"] == pytest.approx(whole.metrics["test"]["accuracy"])


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    overrides = ["experiment=mlp_wine", "trainer.epochs=2", "model.dropout=0.3", *quick()]
    a = zoo.train(zoo.compose(overrides), tmp_path / "a")
    b = zoo.train(zoo.compose(overrides), tmp_path / "b")
    c = zoo.train(zoo.compose([*overrides, "trainer.seed=7"]), tmp_path / "c")
    assert_same_weights(a.model, b.model, atol=0)
    assert not np.allclose(weights_of(a.model)[0], weights_of(c.model)[0])


def test_mirrored_two_replicas_match_one_device(tmp_path):
    """Same global batch (2 x 16 vs 1 x 32): the same gradients, so the same final weights.

    The tolerance (1e-5) covers float32 summation order: replicas reduce their half-batch
    means and then average them, where one device averages the whole batch at once.
    """
    common = ["experiment=mlp_breast_cancer", "trainer.epochs=3", "model.dropout=0.0",
              "dataset.limit=320", "trainer.metrics=[accuracy]", *quick()]
    one = zoo.train(zoo.compose([*common, "strategy=one_device", "trainer.batch_size=32"]),
                    tmp_path / "one")
    two = zoo.train(zoo.compose([*common, "strategy=mirrored", "strategy.cpu_devices=2",
                                 "trainer.batch_size=16"]), tmp_path / "two")
    assert one.metrics["replicas"] == 1 and two.metrics["replicas"] == 2
    assert_same_weights(one.model, two.model, atol=1e-5)
    for run in ("one", "two"):
        assert "global batch 32" in (tmp_path / run / "train.log").read_text()
    moved = np.abs(weights_of(one.model)[0]).sum()
    assert moved > 0


def test_xla_compiles_the_train_step(tmp_path):
    proc = run_zoo("train", "experiment=mlp_iris", "trainer.epochs=3", "trainer.jit_compile=true",
                   *quick(), f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "XLA on" in (tmp_path / "run/train.log").read_text()


def test_mixed_precision(tmp_path):
    cfg = zoo.compose(["experiment=cnn_digits", "trainer.epochs=2", "trainer.precision=mixed_float16",
                       *quick()])
    result = zoo.train(cfg, tmp_path / "run")
    conv = next(layer for layer in result.model.layers if layer.name.endswith("_conv"))
    assert conv.compute_dtype == "float16"
    assert result.model.output.dtype == "float32"
    assert result.metrics["test"]["accuracy"] > 0.5
    import keras

    assert keras.config.dtype_policy().name == "float32"  # restored after the run


def test_early_stopping_and_plateau_schedule(tmp_path):
    cfg = zoo.compose(["experiment=mlp_iris", "trainer.epochs=200", "trainer.lr_schedule=plateau",
                       "trainer.early_stopping.enabled=true", "trainer.early_stopping.patience=2",
                       "trainer.learning_rate=0.05", *quick()])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["epochs"] < 200


def test_terminate_on_nan(tmp_path):
    cfg = zoo.compose(["experiment=mlp_diabetes", "trainer.epochs=50", "trainer.learning_rate=1e12",
                       "optimizer=sgd", "trainer.lr_schedule=constant", *quick()])
    with pytest.raises(ZooError, match="training diverged: the loss became nan"):
        zoo.train(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["diverged"] is True and metrics["epochs"] < 50


def test_cosine_schedule_decays_to_zero(tmp_path):
    cfg = zoo.compose(["experiment=mlp_iris", "trainer.epochs=3", "trainer.lr_schedule=cosine",
                       "trainer.warmup_epochs=1", *quick()])
    result = zoo.train(cfg, tmp_path / "run")
    optimizer = result.model.optimizer
    assert float(optimizer.learning_rate) < 1e-4 * cfg.trainer.learning_rate


def test_task_mismatch_and_bad_schedule_are_clear(tmp_path):
    with pytest.raises(ZooError, match="loss 'mse' is for regression"):
        zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.loss=mse", *quick()]), tmp_path / "a")
    with pytest.raises(ZooError, match="warmup_epochs needs trainer.lr_schedule=cosine"):
        zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.lr_schedule=constant",
                               "trainer.warmup_epochs=1", *quick()]), tmp_path / "b")


def test_one_run_checks_its_config_once_from_the_command_line_and_the_api(tmp_path, monkeypatch):
    """`zoo.train` and `zoo train` each check the config exactly once (issue 26: it was checked
    twice on the command line), and the command line's run folder is Hydra's: nothing else made."""
    import logging

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from zoo.cli.hydra_apps import run_app
    from zoo.config import validate
    from zoo.config.schema import TrainConfig

    checks, hydra_dirs, original = [], [], validate.check_node

    def counting(node, schema, *args):
        checks.extend([schema] if schema is TrainConfig else [])
        if HydraConfig.initialized():
            hydra_dirs.append(HydraConfig.get().runtime.output_dir)
        return original(node, schema, *args)

    monkeypatch.setattr(validate, "check_node", counting)
    overrides = ["experiment=mlp_iris", "trainer.epochs=1", "trainer.steps_per_epoch=2", *quick()]
    result = zoo.train(overrides, tmp_path / "api")
    assert len(checks) == 1 and result.metrics["epochs"] == 1
    checks.clear()
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # Hydra's job logging replaces them in-process
    try:
        assert run_app("train", [*overrides, f"run_dir={tmp_path / 'cli'}"]) == 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        GlobalHydra.instance().clear()
    assert len(checks) == 1 and (tmp_path / "cli" / "metrics.json").exists()
    assert set(hydra_dirs) == {str(tmp_path / "cli")}  # Hydra's run folder is the run folder
    assert not HydraConfig.initialized()  # a later zoo.train is not taken for this Hydra job
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api", "cli"]


@pytest.mark.parametrize(("override", "suggestion"), [
    ("trainer.precision=mixed_float61", "mixed_float16"),
    ("trainer.lr_schedule=cosin", "cosine"),
    ("strategy.name=mirorred", "mirrored"),
    ("optimizer.name=adamm", "adam"),
])
def test_bad_choices_are_rejected_before_the_run_folder_exists(tmp_path, override, suggestion):
    with pytest.raises(ZooError, match=f"did you mean '{suggestion}'"):
        zoo.train(zoo.compose(["experiment=mlp_iris", override]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_interrupted_run_without_resume_needs_overwrite(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints/state.json").write_text('{"epoch": 1, "best": null}')
    with pytest.raises(RunDirError, match="interrupted run"):
        zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.resume=false", *quick()]), run)
    assert (run / "checkpoints/state.json").exists()


def test_best_checkpoint_follows_the_monitor_and_survives_a_restart(tmp_path):
    import keras

    from zoo.run.rundir import RunDir
    from zoo.run.state import RunState
    from zoo.training.callbacks import ResumableCheckpoint

    run = RunDir(tmp_path)
    run.checkpoints.mkdir(parents=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callback = ResumableCheckpoint(run, "val_loss", "min")
    callback.set_model(model)
    for epoch, val_loss in enumerate([1.0, 2.0, 0.5]):
        model.set_weights([np.full((2, 1), epoch, "float32"), np.zeros(1, "float32")])
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
        callback.wait()  # written in the background
        model.load_weights(run.best_weights)
        assert model.get_weights()[0][0, 0] == (0 if epoch < 2 else 2)
    state = run.read_state()
    assert state == RunState(epoch=3, previous_epoch=2, monitor="val_loss", best=0.5)
    restarted = ResumableCheckpoint(run, "val_loss", "min", best=state.best)
    restarted.set_model(model)
    restarted.on_epoch_end(3, {"val_loss": 0.7})  # worse than before the restart
    restarted.close()
    model.load_weights(run.best_weights)
    assert model.get_weights()[0][0, 0] == 2
    assert not list(run.checkpoints.glob("tmp-*"))
