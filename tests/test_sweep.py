"""Sweeps: a parallel Hydra multirun (joblib launcher) and its summary table and plot."""

from __future__ import annotations

import csv
import json

from conftest import run_zoo

from zoo.sweeps.summary import rank, swept_keys


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
    accuracy = {job: json.loads((sweep / str(job) / "metrics.json").read_text())["test"]["accuracy"]
                for job in (0, 1)}
    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert {r["trainer.learning_rate"] for r in rows} == {"0.0003", "0.03"}
    assert [float(r["test.accuracy"]) for r in rows] == sorted(accuracy.values(), reverse=True)
    assert rows[0]["trainer.learning_rate"] == "0.03" and float(rows[0]["test.accuracy"]) >= 0.7
    assert (sweep / "summary.png").stat().st_size > 1000
    assert "| rank | job | trainer.learning_rate | test.accuracy |" in (sweep / "summary.md").read_text()
    print((sweep / "summary.md").read_text())
