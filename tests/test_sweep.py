"""Sweeps: a parallel Hydra multirun (joblib launcher) and its summary table and plot."""

from __future__ import annotations

import csv
import json

from conftest import run_zoo

from zoo.sweeps.summary import SweepSummary, rank, swept_keys


def test_swept_keys_and_ranking_put_failed_jobs_last():
    overrides = ["experiment=mlp_iris", "trainer.learning_rate=0.001,0.01", "model.dropout=range(0,3)",
                 "hydra/launcher=joblib"]
    assert swept_keys(overrides) == ["trainer.learning_rate", "model.dropout"]
    rows = [{"job": 0, "metric": 0.5}, {"job": 1, "metric": None}, {"job": 2, "metric": 0.9}]
    assert [r["job"] for r in rank(rows, lower_is_better=False)] == [2, 0, 1]
    assert [r["job"] for r in rank(rows, lower_is_better=True)] == [0, 2, 1]


def test_parallel_sweep_of_two_jobs_writes_a_ranked_summary(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_zoo("train", "-m", "experiment=mlp_iris", "trainer.epochs=4", "trainer.plots=false",
                   "trainer.tensorboard=false", "trainer.learning_rate=0.0003,0.03",
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
                   timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    metrics = {job: json.loads((sweep / str(job) / "metrics.json").read_text()) for job in (0, 1)}
    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert {r["trainer.learning_rate"] for r in rows} == {"0.0003", "0.03"}
    ranked = sorted(metrics.values(), key=lambda m: m["validation"]["accuracy"], reverse=True)
    assert [float(r["validation.accuracy"]) for r in rows] == [m["validation"]["accuracy"] for m in ranked]
    assert [float(r["test.accuracy"]) for r in rows] == [m["test"]["accuracy"] for m in ranked]
    assert rows[0]["trainer.learning_rate"] == "0.03" and float(rows[0]["validation.accuracy"]) >= 0.7
    assert (sweep / "summary.png").stat().st_size > 1000
    header = "| rank | job | trainer.learning_rate | validation.accuracy | test.accuracy |"
    assert header in (sweep / "summary.md").read_text()
    print((sweep / "summary.md").read_text())


def test_summary_ranks_by_validation_even_where_test_disagrees(tmp_path):
    """Selecting on the test metric would pick job 1; the validation metric picks job 0."""
    from omegaconf import OmegaConf

    scores = {0: (0.95, 0.80), 1: (0.85, 0.99), 2: (0.90, 0.90)}  # job: (validation, test) accuracy
    for job, (validation, test) in scores.items():
        folder = tmp_path / str(job)
        folder.mkdir()
        (folder / "config.yaml").write_text(f"trainer:\n  learning_rate: {0.001 * (job + 1)}\n")
        (folder / "metrics.json").write_text(json.dumps({
            "headline": "accuracy", "validation": {"accuracy": validation, "loss": 0.3},
            "test": {"accuracy": test}}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "sweeper": {},
                                         "overrides": {"task": ["trainer.learning_rate=0.001,0.002,0.003"]}}})
    SweepSummary().on_multirun_end(config)
    with open(tmp_path / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["job"] for r in rows] == ["0", "2", "1"]
    assert [float(r["validation.accuracy"]) for r in rows] == [0.95, 0.90, 0.85]


def test_train_job_hands_the_sweeper_the_validation_metric():
    from zoo.sweeps.summary import selection

    metrics = {"headline": "mae", "validation": {"mae": 3.5, "loss": 20.0}, "test": {"mae": 3.1}}
    assert selection(metrics) == ("validation.mae", 3.5)
    assert selection({"headline": "fid", "validation": {"loss": 0.7}, "test": {"fid": 9}}) == \
        ("validation.loss", 0.7)
