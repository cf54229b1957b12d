"""The command line end to end on real data: user files, TFDS, a plugin's model, sweeps."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_zoo
from PIL import Image
from sklearn import datasets

import zoo
from zoo.core.errors import DataError

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")


def metrics_of(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_third_party_plugin_model_trains_from_the_command_line(tmp_path):
    run_dir = tmp_path / "toy"
    proc = run_zoo("train", "model=toy_linear_l2", "dataset=iris", "trainer.epochs=40",
                   "trainer.batch_size=16", "trainer.learning_rate=0.05", *QUICK,
                   f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "name: toy_linear" in (run_dir / "config.yaml").read_text()
    assert "l2: 0.001" in (run_dir / "config.yaml").read_text()
    assert metrics_of(run_dir)["test"]["accuracy"] >= 0.7  # chance is 1/3


def test_multirun_sweep_and_mirrored_strategy_from_the_command_line(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_zoo("train", "-m", "experiment=mlp_iris", "trainer.epochs=3", *QUICK,
                   "strategy=mirrored", "strategy.cpu_devices=2",
                   "trainer.learning_rate=1e-3,1e-2", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rates = []
    for job in ("0", "1"):
        metrics = metrics_of(sweep / job)
        assert metrics["replicas"] == 2
        rates.append(zoo_cfg_value(sweep / job, "learning_rate"))
    assert sorted(rates) == [0.001, 0.01]
    assert (sweep / "multirun.yaml").is_file()


def zoo_cfg_value(run_dir, key: str) -> float:
    from omegaconf import OmegaConf

    return OmegaConf.load(run_dir / "config.yaml").trainer[key]


def write_csv(path, header, rows, delimiter=",") -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


def test_csv_regression_from_the_command_line(tmp_path):
    data = datasets.load_diabetes()
    path = tmp_path / "diabetes.csv"
    write_csv(path, [*data.feature_names, "progression"],
              [[*map(float, x), float(t)] for x, t in zip(data.data, data.target, strict=True)], ";")
    run_dir = tmp_path / "run"
    proc = run_zoo("train", "experiment=mlp_csv_regression", f"dataset.path={path}",
                   "dataset.target=progression", "trainer.epochs=60", "trainer.learning_rate=3e-3",
                   *QUICK, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    test = metrics_of(run_dir)["test"]
    assert test["r2"] > 0.3 and {"mae", "mse"} <= set(test)
    assert "test mae:" in proc.stdout


def test_csv_classification_with_string_labels(tmp_path):
    data = datasets.load_breast_cancer()
    path = tmp_path / "cancer.csv"
    names = [str(n) for n in data.target_names]
    write_csv(path, [*data.feature_names, "diagnosis"],
              [[*map(float, x), names[t]] for x, t in zip(data.data, data.target, strict=True)])
    cfg = zoo.compose(["experiment=mlp_csv_classification", f"dataset.path={path}",
                       "dataset.target=diagnosis", "trainer.epochs=20", *QUICK])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["test"]["accuracy"] > 0.9
    info = json.loads((tmp_path / "run/dataset.json").read_text())
    assert info["class_names"] == sorted(names)


def test_csv_missing_target_fails_with_one_line_and_keeps_nothing_half_done(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, ["a", "b", "label"], [[1, 2, 0], [3, 4, 1]] * 10)
    proc = run_zoo("train", "experiment=mlp_csv_classification", f"dataset.path={path}",
                   "dataset.target=lable", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(error_lines) == 1 and "lable" in error_lines[0] and "label" in error_lines[0]
    assert "Traceback" not in proc.stderr


def digits_folder(root, per_class: int = 50, size: int = 16) -> None:
    data = datasets.load_digits()
    for label in range(10):
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True)
        images = data.images[data.target == label][:per_class]
        for i, image in enumerate(images):
            pixels = (image / 16.0 * 255).astype(np.uint8)
            Image.fromarray(pixels, "L").resize((size, size)).save(folder / f"{i}.png")


def test_image_folder_cnn_learns_digits(tmp_path):
    digits_folder(tmp_path / "images")
    cfg = zoo.compose(["experiment=cnn_image_folder", f"dataset.path={tmp_path / 'images'}",
                       "dataset.image_size=[16,16]", "dataset.color_mode=grayscale",
                       "model.filters=[16,32]", "trainer.epochs=12", *QUICK])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.model.input_shape == (None, 16, 16, 1)
    assert result.metrics["test"]["accuracy"] > 0.6  # chance is 0.1
    info = json.loads((tmp_path / "run/dataset.json").read_text())
    assert info["class_names"][0] == "digit_0" and info["modality"] == "image"


def test_tfds_mnist_experiment_trains_on_mocked_tfds(tmp_path):
    import tensorflow_datasets as tfds

    cfg = zoo.compose(["experiment=cnn_mnist", "trainer.epochs=1", "trainer.steps_per_epoch=3",
                       "trainer.batch_size=16", f"dataset.data_dir={tmp_path / 'tfds'}", *QUICK])
    with tfds.testing.mock_data(num_examples=48):
        result = zoo.train(cfg, tmp_path / "run")
    assert result.model.input_shape == (None, 28, 28, 1)
    assert result.metrics["epochs"] == 1 and "accuracy" in result.metrics["test"]


def test_tfds_offline_fails_fast_with_advice(tmp_path, monkeypatch):
    import time

    from zoo.data import tfds_data

    monkeypatch.setattr(tfds_data, "network_reachable", lambda *a, **k: False)  # offline anywhere

    cfg = zoo.compose(["experiment=cnn_mnist", f"dataset.data_dir={tmp_path / 'empty'}", *QUICK])
    started = time.monotonic()
    with pytest.raises(DataError, match="tfds build mnist"):
        zoo.train(cfg, tmp_path / "run")
    assert time.monotonic() - started < 30
