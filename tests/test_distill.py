"""Knowledge distillation: a finished run teaches a much smaller student; the student run is a plain run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import run_zoo, train_interrupted

import zoo
from zoo.core.errors import DataError, RunDirError, ZooError

QUICK = ["trainer.plots=false", "trainer.tensorboard=false"]
STUDENT = ["model.hidden_sizes=[16]", "model.dropout=0.0", "trainer.epochs=8", *QUICK]


def weights_of(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A small CNN on scikit-learn digits (8x8 images), a few epochs."""
    run_dir = tmp_path_factory.mktemp("distill") / "teacher"
    cfg = zoo.compose(["experiment=cnn_digits", "model.filters=[16,32]", "trainer.epochs=6", *QUICK])
    result = zoo.train(cfg, run_dir)
    assert result.metrics["test"]["accuracy"] > 0.9
    return run_dir


def distill_cfg(teacher_dir, *overrides: str):
    return zoo.compose(["experiment=distill", f"distill.teacher={teacher_dir}", *STUDENT, *overrides])


def test_soft_targets_are_hintons_tempered_kl():
    from zoo.training.distiller import SoftTargets

    teacher, student = np.array([[2.0, 0.0, -1.0]], "float32"), np.array([[0.0, 1.0, 0.5]], "float32")

    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    for temperature in (1.0, 4.0):
        p, q = softmax(teacher[0] / temperature), softmax(student[0] / temperature)
        expected = float(np.sum(p * np.log(p / q)) * temperature**2)
        loss = SoftTargets(temperature, "t", "s").compute_loss(teacher, student)
        assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_student_needs_logits_under_a_softmax_head():
    import keras

    from zoo.training.distiller import logits_layer

    inputs = keras.Input((4,))
    fused = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs), name="fused")
    with pytest.raises(ZooError, match="does not end in a softmax Activation"):
        logits_layer(fused, "student")
    head = keras.layers.Dense(3, name="head_logits")(inputs)
    split = keras.Model(inputs, keras.layers.Activation("softmax", name="head")(head))
    assert logits_layer(split, "teacher") == "head_logits"


def test_student_learns_from_the_teachers_soft_targets_alone(teacher, tmp_path):
    # alpha=0: the labels carry no weight, so accuracy above chance comes from the teacher.
    distilled = zoo.train(distill_cfg(teacher, "distill.alpha=0.0"), tmp_path / "distilled")
    plain = zoo.train(zoo.compose(["model=mlp_small", "dataset=digits", *STUDENT]), tmp_path / "plain")
    kd, own = distilled.metrics["test"]["accuracy"], plain.metrics["test"]["accuracy"]
    print(f"student test accuracy: distilled {kd:.4f}, labels only {own:.4f}")
    assert kd > 0.75 and own > 0.75  # chance is 0.1

    report = distilled.metrics["distillation"]
    teacher_metrics = json.loads((teacher / "metrics.json").read_text())
    assert report["teacher_test"]["accuracy"] == pytest.approx(teacher_metrics["test"]["accuracy"])
    assert report["student_test"] == distilled.metrics["test"]
    assert report["teacher_params"] > 10 * report["student_params"] == 10 * distilled.model.count_params()
    assert (report["temperature"], report["alpha"], report["teacher_model"]) == (4.0, 0.0, "cnn")


def test_student_run_folder_is_a_plain_run_of_the_student(teacher, tmp_path, monkeypatch):
    import keras

    from zoo.training import distill

    reads, read = [], distill.Teacher.read.__func__
    monkeypatch.setattr(distill, "_LAST_READ", [])
    monkeypatch.setattr(distill.Teacher, "read", classmethod(lambda cls, path: reads.append(path)
                                                             or read(cls, path)))
    run_dir = tmp_path / "student"
    result = zoo.train(distill_cfg(teacher, "trainer.epochs=2"), run_dir)
    assert len(reads) == 1  # the config check and the run's task share one reading of the teacher
    from zoo.preprocessing.assemble import parts

    saved = keras.saving.load_model(run_dir / "model.keras")
    preprocessor, network = parts(saved)
    assert network.name == "mlp" and network.count_params() == result.model.count_params()
    for got, want in zip(weights_of(network), weights_of(result.model), strict=True):
        np.testing.assert_array_equal(got, want)
    teacher_info = json.loads((teacher / "dataset.json").read_text())
    student_info = json.loads((run_dir / "dataset.json").read_text())
    assert student_info["features"] == teacher_info["features"]  # the teacher's preprocessing
    teacher_pre = keras.saving.load_model(teacher / "preprocessor.keras")
    for got, want in zip(preprocessor.get_weights(), teacher_pre.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    for checkpoint in ("final", "best"):
        scored = zoo.evaluate(run_dir, checkpoint=checkpoint)["test"]["accuracy"]
        if checkpoint == "final":
            assert scored == pytest.approx(result.metrics["test"]["accuracy"])
        assert scored > 0.3


def test_resumed_distillation_equals_uninterrupted(teacher, tmp_path, monkeypatch):
    overrides = ["trainer.epochs=3", "trainer.steps_per_epoch=12"]
    whole = zoo.train(distill_cfg(teacher, *overrides), tmp_path / "whole")
    train_interrupted(distill_cfg(teacher, *overrides), tmp_path / "resumed", monkeypatch)
    resumed = zoo.train(distill_cfg(teacher, *overrides), tmp_path / "resumed")
    assert "resumed from epoch 1" in (tmp_path / "resumed/train.log").read_text()
    for a, b in zip(weights_of(whole.model), weights_of(resumed.model), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    assert resumed.metrics["distillation"]["student_test"] == pytest.approx(
        whole.metrics["distillation"]["student_test"])


def test_bad_teachers_and_mismatched_data_are_clear_errors(teacher, tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(RunDirError, match=f"distill.teacher={missing} does not exist"):
        zoo.train(distill_cfg(missing), tmp_path / "a")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(teacher / "config.yaml", unfinished)
    with pytest.raises(RunDirError, match="has no dataset.json: the teacher run did not finish"):
        zoo.train(distill_cfg(unfinished), tmp_path / "b")
    with pytest.raises(ZooError, match="trainer.seed=7 differs from the teacher's seed 42"):
        zoo.train(distill_cfg(teacher, "trainer.seed=7"), tmp_path / "c")
    with pytest.raises(DataError, match="name is 'wine', the teacher's is 'digits'"):
        zoo.train(distill_cfg(teacher, "distill.teacher_data=false", "dataset=wine"), tmp_path / "d")
    with pytest.raises(ZooError, match="missing required value.*distill.teacher"):
        zoo.train(zoo.compose(["experiment=distill", *QUICK]), tmp_path / "e")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_cli_names_a_missing_teacher_in_one_line(tmp_path):
    proc = run_zoo("train", "experiment=distill", f"distill.teacher={tmp_path / 'nope'}",
                   f"run_dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"zoo: error: distill.teacher={tmp_path / 'nope'} does not exist: pass a run folder that "
        "`zoo train` printed")
