"""Throttled, asynchronous checkpoints: what is on disk when, and resume stays exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import Interrupt

import zoo

IRIS = ["experiment=mlp_iris", "trainer.epochs=4", "model.dropout=0.2", "trainer.plots=false",
        "trainer.tensorboard=false"]


def test_rare_checkpoints_keep_the_best_epoch_and_save_at_the_end(tmp_path):
    import keras

    from zoo.run.rundir import RunDir
    from zoo.training.callbacks import ResumableCheckpoint

    run = RunDir(tmp_path)
    run.checkpoints.mkdir(parents=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callback = ResumableCheckpoint(run, "val_loss", "min", every_seconds=3600)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, val_loss in enumerate([1.0, 0.5, 2.0]):
        callback.on_epoch_begin(epoch)
        model.set_weights([np.full((2, 1), epoch, "float32"), np.zeros(1, "float32")])
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
    assert not run.last_weights.exists()  # nothing due yet: no file was written
    callback.on_train_end()
    callback.close()
    model.load_weights(run.best_weights)
    assert model.get_weights()[0][0, 0] == 1  # epoch 2 (index 1) had the lowest val_loss
    model.load_weights(run.last_weights)
    assert model.get_weights()[0][0, 0] == 2
    assert json.loads(run.state.read_text()) == {"format_version": 1, "zoo_version": zoo.__version__,
                                                 "epoch": 3, "previous_epoch": None, "monitor": "val_loss",
                                                 "best": 0.5}
    assert not list(run.checkpoints.glob("tmp-*"))


def test_a_damaged_last_falls_back_to_a_mid_epoch_previous_with_its_step(tmp_path):
    """`last.prev` saved mid-epoch (epoch 1 + 3 steps): resuming from it keeps its step and its
    random layers' state, not the start of its epoch."""
    import keras

    from zoo.run.rundir import RunDir
    from zoo.training.callbacks import ResumableCheckpoint, choose_checkpoint

    run = RunDir(tmp_path)
    run.checkpoints.mkdir(parents=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    saver = ResumableCheckpoint(run, "val_loss", "min")
    saver.set_model(model)
    saver.save_step(1, 3, model)
    seeds = json.loads(run.state.read_text())["seeds"] if saver.wait() is None else None
    saver.on_epoch_begin(1)
    saver.on_epoch_end(1, {"val_loss": 1.0})  # the epoch-end save: the mid-epoch one becomes prev
    saver.close()
    state = run.read_state()
    assert (state.epoch, state.previous_epoch, state.previous_step) == (2, 1, 3)
    run.last_weights.write_bytes(run.last_weights.read_bytes()[:100])  # truncated
    point = choose_checkpoint(run, state)
    assert (point.path, point.epoch, point.step, point.seeds) == (run.prev_weights, 1, 3, seeds)


def test_interrupted_mid_epoch_resumes_from_the_last_saved_epoch_exactly(tmp_path, monkeypatch):
    """Stopped in the middle of epoch 3: its half-trained weights are not saved as an epoch."""
    import keras

    from zoo.training import callbacks as cb

    overrides = [*IRIS, "trainer.checkpoint_every_seconds=0"]
    whole = zoo.train(zoo.compose(overrides), tmp_path / "whole")

    class StopMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 2:
                raise Interrupt

    original = cb.build_callbacks
    monkeypatch.setattr(cb, "build_callbacks", lambda *a: original(*a) + [StopMidEpoch()])
    with pytest.raises(Interrupt):
        zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    monkeypatch.setattr(cb, "build_callbacks", original)
    assert json.loads((tmp_path / "resumed/checkpoints/state.json").read_text())["epoch"] == 2
    resumed = zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    assert "resumed from epoch 2" in (tmp_path / "resumed/train.log").read_text()
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_resume_cuts_the_history_back_to_the_checkpoint(tmp_path, monkeypatch):
    """Checkpoint at epoch 2, killed in epoch 4 (history up to epoch 3): the rerun's history holds
    each epoch once, equal to an uninterrupted run's, and metrics.json counts 4 epochs."""
    import csv

    import keras

    from zoo.training import callbacks as cb
    from zoo.training import checkpointing

    overrides = [*IRIS, "trainer.checkpoint_every_seconds=3600"]
    whole = zoo.train(zoo.compose(overrides), tmp_path / "whole")
    dues = iter([False, True])
    monkeypatch.setattr(checkpointing.SaveClock, "due", lambda self: next(dues, False))

    class KilledInEpoch4(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 3 and batch == 1:
                raise Interrupt  # a crash: nothing more is saved

    original = cb.build_callbacks
    monkeypatch.setattr(cb, "build_callbacks", lambda *a: original(*a) + [KilledInEpoch4()])
    with pytest.raises(Interrupt):
        zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    monkeypatch.undo()
    run = tmp_path / "resumed"
    assert json.loads((run / "checkpoints/state.json").read_text())["epoch"] == 2
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3  # epochs 1-3 logged
    resumed = zoo.train(zoo.compose(overrides), run)
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert resumed.metrics["epochs"] == 4 == whole.metrics["epochs"]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], whole.history["loss"], rtol=1e-5)


def signal_mid_epoch(monkeypatch, sig, epoch: int, batch: int) -> None:
    """Training sends itself `sig` after step `batch` (0-based) of `epoch` (0-based), once."""
    import os

    import keras

    from zoo.training import callbacks as cb

    class SignalMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e

        def on_train_batch_begin(self, b, logs=None):
            if (self.epoch, b) == (epoch, batch + 1):
                os.kill(os.getpid(), sig)

    original = cb.build_callbacks
    monkeypatch.setattr(cb, "build_callbacks", lambda *a: [SignalMidEpoch(), *original(*a)])


def test_a_signal_mid_epoch_saves_that_step_and_the_rerun_equals_an_uninterrupted_run(
        tmp_path, monkeypatch, sig="SIGINT"):
    """Ctrl-C after step 5 of epoch 2 (of 14 steps): the checkpoint holds epoch 1 + 5 steps and the
    dropout state; the rerun starts there and ends with the uninterrupted weights. (SIGTERM takes
    the same path and exits 75: tests/test_distributed.py sends it to one of two workers.)"""
    import signal

    from zoo.training.preemption import EXIT_PREEMPTED, Preempted
    from zoo.training.progress import RunEstimate

    overrides = [*IRIS, "trainer.epochs=3", "trainer.batch_size=8", "trainer.checkpoint_every_seconds=3600"]
    monkeypatch.setattr(RunEstimate, "AFTER_STEPS", 3)
    whole = zoo.train(zoo.compose(overrides), tmp_path / "whole")
    log = (tmp_path / "whole/train.log").read_text()  # how long it takes, before it is long:
    estimate = log.index("s a step: epoch 1 ends in about")
    assert log.index("14 steps an epoch, 42 steps in 3 epoch(s)") < estimate < log.index("epoch 1/3 ")
    signal_mid_epoch(monkeypatch, getattr(signal, sig), epoch=1, batch=4)
    run = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt, match="epoch 2, step 5") as info:
        zoo.train(zoo.compose(overrides), run)
    assert isinstance(info.value, Preempted) == (sig == "SIGTERM")
    assert getattr(info.value, "exit_code", 130) == (EXIT_PREEMPTED if sig == "SIGTERM" else 130)
    monkeypatch.undo()
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 5) and state["seeds"]  # dropout's generator state
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    resumed = zoo.train(zoo.compose(overrides), run)
    assert "resumed from epoch 1 of 3, step 5 of epoch 2" in (run / "train.log").read_text()
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["epochs"] == 3
    assert resumed.history["val_loss"] == pytest.approx(whole.history["val_loss"], rel=1e-6)


def test_tensorboard_gets_every_epoch_and_the_learning_rate(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = zoo.train(zoo.compose([*IRIS[:-1], "trainer.epochs=3", "trainer.learning_rate=0.01"]),
                       tmp_path / "run")
    train = EventAccumulator(str(result.run_dir / "tensorboard/train")).Reload()
    validation = EventAccumulator(str(result.run_dir / "tensorboard/validation")).Reload()
    losses = [(e.step, e.value) for e in train.Scalars("epoch_loss")]
    assert losses == [(i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(result.history["loss"])]
    val_losses = [e.value for e in validation.Scalars("epoch_loss")]
    assert val_losses == pytest.approx(result.history["val_loss"], rel=1e-6)
    rates = [e.value for e in train.Scalars("epoch_learning_rate")]
    assert len(rates) == 3 and rates[0] < 0.01 and rates[0] > rates[1] > rates[2] >= 0  # cosine decay
