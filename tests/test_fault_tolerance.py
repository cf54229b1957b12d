"""Fault tolerance: SIGKILL mid-run and restart, damaged checkpoints, atomic files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, run_zoo

import zoo
from zoo.training.callbacks import CheckpointError

OVERRIDES = ["experiment=mlp_iris", "trainer.epochs=6", "trainer.learning_rate=0.03",
             "model.dropout=0.2", "trainer.plots=false", "trainer.tensorboard=false",
             "trainer.checkpoint_every_seconds=0"]  # a checkpoint every epoch, to kill between them


def wait_for_epoch(state, epoch: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= epoch):
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)


def test_sigkilled_run_resumes_with_the_same_command(tmp_path):
    run = tmp_path / "run"
    args = ["train", *OVERRIDES, f"hydra.run.dir={run}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli.main", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_epoch(run / "checkpoints/state.json", 2, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert not (run / "metrics.json").exists()

    again = run_zoo(*args, timeout=200)
    assert again.returncode == 0, again.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "resumed from epoch" in log
    resumed = json.loads((run / "metrics.json").read_text())

    whole = zoo.train(zoo.compose(OVERRIDES), tmp_path / "whole")
    assert resumed["validation"]["loss"] == pytest.approx(whole.metrics["validation"]["loss"], abs=1e-4)
    assert resumed["test"]["accuracy"] == pytest.approx(whole.metrics["test"]["accuracy"], abs=1e-6)
    assert resumed["test"]["accuracy"] >= 0.7  # iris: chance is 1/3
    print(f"killed + resumed: val_loss {resumed['validation']['loss']:.5f} test acc "
          f"{resumed['test']['accuracy']:.4f}; uninterrupted: val_loss "
          f"{whole.metrics['validation']['loss']:.5f} test acc {whole.metrics['test']['accuracy']:.4f}")


def test_truncated_last_checkpoint_falls_back_to_the_previous_good_one(tmp_path, caplog):
    overrides = [*OVERRIDES, "trainer.epochs=3"]
    run = tmp_path / "run"
    whole = zoo.train(zoo.compose(overrides), run)
    ckpt = run / "checkpoints"
    assert json.loads((ckpt / "state.json").read_text())["previous_epoch"] == 2
    assert not list(ckpt.glob("tmp-*")), "a temporary checkpoint was left behind"
    (run / "metrics.json").unlink()  # the run now looks interrupted after epoch 3
    data = (ckpt / "last.weights.h5").read_bytes()
    (ckpt / "last.weights.h5").write_bytes(data[: len(data) // 2])

    resumed = zoo.train(zoo.compose(overrides), run)
    log = (run / "train.log").read_text()
    assert "is corrupt or truncated" in log and "resumed from epoch 2 of 3" in log
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)

    (run / "metrics.json").unlink()
    (ckpt / "last.prev.weights.h5").write_bytes(b"not an HDF5 file")
    (ckpt / "last.weights.h5").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated .* trainer.overwrite=true"):
        zoo.train(zoo.compose(overrides), run)
