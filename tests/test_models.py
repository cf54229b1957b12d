"""Model options, losses and metrics (every model's build, train and round trip: test_conformance)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

import zoo
from zoo.core.registry import get_registry
from zoo.core.specs import GENERATIVE
from zoo.data.base import DatasetInfo

TABULAR = DatasetInfo("table", "classification", "tabular", (5,), num_classes=3)
REGRESSION = DatasetInfo("values", "regression", "tabular", (5,))


def generative(kind: str, name: str) -> bool:
    return GENERATIVE in get_registry().get(kind, name).tasks


# Every registered model builds, trains, round-trips through model.keras and exports: the
# conformance kit (tests/test_conformance.py); here, single options and the losses and metrics.


@pytest.mark.parametrize("name", ["mlp"])
def test_regression_head_has_one_linear_output(name):
    model = zoo.build_model(name, info=REGRESSION)
    assert model.output.shape == (None, 1)
    assert model.layers[-1].activation.__name__ == "linear"


@pytest.mark.parametrize(("shape", "extra"), [
    ((8, 8, 1), {}),
    ((32, 32, 3), {}),
    ((224, 224, 3), {"filters": [16, 32, 64, 64], "stem_stride": 2}),
])
@pytest.mark.parametrize("residual", [False, True])
def test_cnn_handles_small_to_large_grey_and_colour_images(shape, extra, residual):
    model = zoo.build_model("cnn", input_shape=shape, num_classes=4, residual=residual, **extra)
    x = np.zeros((2, *shape), "float32")
    assert model.predict(x, verbose=0).shape == (2, 4)
    has_add = any(layer.name.endswith("_add") for layer in model.layers)
    assert has_add == residual


def test_cnn_config_options_shape_the_network():
    plain = zoo.build_model("cnn", input_shape=(16, 16, 1), num_classes=3, filters=[8, 16, 32],
                            convs_per_block=2, batch_norm=False, pooling="avg", dropout=0.0)
    names = [layer.name for layer in plain.layers]
    assert sum(n.endswith("_conv") for n in names) == 1 + 3 * 2
    assert not any("bn" in n for n in names) and not any("block" in n and "dropout" in n for n in names)
    assert any(isinstance(layer, keras.layers.AveragePooling2D) for layer in plain.layers)


def test_cnn_rejects_non_images_with_advice():
    with pytest.raises(zoo.core.errors.ZooError, match="use model=mlp"):
        zoo.build_model("cnn", input_shape=(10,), num_classes=2)


def test_mlp_options():
    model = zoo.build_model("mlp", input_shape=(8, 8, 1), num_classes=10, hidden_sizes=[7, 5],
                            dropout=0.5, batch_norm=True, activation="tanh")
    dense = [layer for layer in model.layers if layer.name.startswith("dense_")]
    assert [d.units for d in dense] == [7, 5]
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert isinstance(model.layers[1], keras.layers.Flatten)


def test_build_model_rejects_unknown_params():
    with pytest.raises(Exception, match="hiden_sizes"):
        zoo.build_model("mlp", input_shape=(4,), num_classes=2, hiden_sizes=[3])


@pytest.mark.parametrize("name", [n for n in zoo.list_losses() if not generative("loss", n)])
def test_every_loss_gives_a_finite_value_that_prefers_the_truth(name):
    spec = get_registry().loss(name)
    if "classification" in spec.tasks:
        info = TABULAR
        y = np.array([0, 1, 2, 1])
        good = np.eye(3, dtype="float32")[y] * 0.9 + 0.1 / 3
        bad = np.roll(good, 1, axis=1)
    else:
        info = REGRESSION
        y = np.array([[1.0], [2.0], [3.0], [4.0]], "float32")
        good, bad = y + 0.1, y + 3.0
    loss = spec.build(info)
    assert float(loss(y, good)) < float(loss(y, bad))
    assert np.isfinite(float(loss(y, good)))


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=200)
    probs = rng.dirichlet(np.ones(4), size=200).astype("float32")
    pred = probs.argmax(1)
    info = DatasetInfo("t", "classification", "tabular", (3,), num_classes=4)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall": skm.recall_score(y, pred, average="macro", zero_division=0),
        "f1": skm.f1_score(y, pred, average="macro", zero_division=0),
        "auc": skm.roc_auc_score(y, probs, multi_class="ovr"),
    }
    for name, value in expected.items():
        metric = get_registry().metric(name).build(info)
        metric.update_state(y, probs)
        assert float(metric.result()) == pytest.approx(value, abs=0.02 if name == "auc" else 1e-5)


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(100, 1)).astype("float32")
    pred = (y + rng.normal(scale=0.5, size=(100, 1))).astype("float32")
    expected = {"mae": skm.mean_absolute_error(y, pred), "mse": skm.mean_squared_error(y, pred),
                "r2": skm.r2_score(y, pred)}
    for name, value in expected.items():
        metric = get_registry().metric(name).build(REGRESSION)
        metric.update_state(y, pred)
        assert float(metric.result()) == pytest.approx(value, rel=1e-4)


def test_load_dataset_api_returns_splits_with_info():
    splits = zoo.load_dataset("wine", seed=3)
    assert splits.info.num_classes == 3 and splits.info.input_shape == (13,)
    total = sum(splits.info.num_examples.values())
    assert total == 178
