"""Every registered model builds, trains a step and round-trips through .keras; losses, metrics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

import zoo
from zoo.core.registry import get_registry
from zoo.core.specs import GENERATIVE, UNLABELLED
from zoo.data.base import DatasetInfo

IMAGE = DatasetInfo("images", "classification", "image", (8, 8, 1), num_classes=10)
TABULAR = DatasetInfo("table", "classification", "tabular", (5,), num_classes=3)
REGRESSION = DatasetInfo("values", "regression", "tabular", (5,))


TEXT = DatasetInfo("text", "classification", "text", (12,), num_classes=3, input_dtype="int32",
                   extra={"vocabulary_size": 50, "inputs": ["token_ids", "segment_ids", "padding_mask"]})
SEQUENCE = DatasetInfo("series", "classification", "sequence", (10, 2), num_classes=3)


def generative(kind: str, name: str) -> bool:
    return GENERATIVE in get_registry().get(kind, name).tasks


def unlabelled(name: str) -> bool:
    return UNLABELLED in get_registry().model(name).tasks


def generates_text(name: str) -> bool:
    from zoo.tasks.task import Task, task_for

    return type(task_for(get_registry().model(name))).generate is not Task.generate


SUPERVISED_MODELS = [n for n in zoo.list_models() if not generative("model", n) and not unlabelled(n)]
LANGUAGE_MODELS = [n for n in zoo.list_models() if generates_text(n)]
UNLABELLED_MODELS = [n for n in zoo.list_models() if unlabelled(n) and n not in LANGUAGE_MODELS]
GENERATIVE_MODELS = [n for n in zoo.list_models() if generative("model", n)]


def info_for(name: str) -> DatasetInfo:
    spec = get_registry().model(name)
    if "tabular" in spec.modalities:
        return TABULAR
    if "image" in spec.modalities:
        return IMAGE
    return SEQUENCE if "sequence" in spec.modalities else TEXT


def features_for(info: DatasetInfo, rng: np.random.Generator, n: int = 16):
    """Random inputs of `info`: floats, or token ids (a dict when the model names its inputs)."""
    if info.input_dtype != "int32":
        return rng.normal(size=(n, *info.input_shape)).astype("float32")
    ids = rng.integers(1, info.extra["vocabulary_size"], size=(n, *info.input_shape)).astype("int32")
    if "inputs" not in info.extra:
        return ids
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}


@pytest.mark.parametrize("name", SUPERVISED_MODELS)
def test_every_model_builds_trains_and_round_trips(name, tmp_path):
    info = info_for(name)
    model = zoo.build_model(name, info=info)
    rng = np.random.default_rng(0)
    x = features_for(info, rng)
    y = rng.integers(0, info.num_classes, size=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probs = model.predict(x, verbose=0)
    assert probs.shape == (16, info.num_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), probs, atol=1e-6)


@pytest.mark.parametrize("name", UNLABELLED_MODELS)
def test_every_pretraining_model_builds_trains_and_round_trips(name, tmp_path):
    """Masked-LM pre-training models: token ids plus mask positions in, vocabulary logits out."""
    assert UNLABELLED_MODELS == ["bert_mlm"], "add inputs for the new pre-training model here"
    model = zoo.build_model(name, info=TEXT, max_predictions=3)
    rng = np.random.default_rng(0)
    x = {**features_for(TEXT, rng), "mask_positions": rng.integers(1, 12, size=(16, 3)).astype("int32")}
    y, weights = rng.integers(5, 50, size=(16, 3)), np.ones((16, 3), "float32")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    assert np.all(np.isfinite(model.train_on_batch(x, y, sample_weight=weights)))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    logits = model.predict(x, verbose=0)
    assert logits.shape == (16, 3, TEXT.extra["vocabulary_size"])
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, atol=1e-5)


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_every_language_model_builds_trains_and_round_trips(name, tmp_path):
    """Causal LMs: token ids and a padding mask in, next-token logits at every position out."""
    model = zoo.build_model(name, info=TEXT)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, size=(16, 13)).astype("int32")
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones((16, 12), bool)}
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    assert np.all(np.isfinite(model.train_on_batch(x, ids[:, 1:])))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    logits = model.predict(x, verbose=0)
    assert logits.shape == (16, 12, TEXT.extra["vocabulary_size"])
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, atol=1e-5)


def compiled_generative(name: str, info: DatasetInfo):
    """A generative model compiled through its own Task, its optimizers built (as on resume)."""
    from omegaconf import OmegaConf

    from zoo.tasks.task import task_for

    keras.utils.set_random_seed(0)
    model = zoo.build_model(name, info=info)
    cfg = OmegaConf.create({"trainer": {"loss": None}})
    task_for(get_registry().model(name)).compile(model, keras.optimizers.Adam(1e-3), cfg, info,
                                                 get_registry())
    model.build_optimizers() if hasattr(model, "build_optimizers") else model.optimizer.build(
        model.trainable_variables)
    return model


@pytest.mark.parametrize("name", GENERATIVE_MODELS)
def test_every_generative_model_trains_a_step_and_round_trips(name, tmp_path):
    """The generative counterpart: one custom train_step, then .keras and optimizer state round trips."""
    info = info_for(name)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(16, *info.input_shape)).astype("float32")
    y = rng.integers(0, info.num_classes, size=16)
    model = compiled_generative(name, info)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs and all(np.isfinite(v) for v in logs.values())
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    inputs = rng.normal(size=(4, model.latent_dim)).astype("float32") if hasattr(model, "generator") else x
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded(inputs), model(inputs), atol=1e-6)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = compiled_generative(name, info)
    fresh.load_weights(tmp_path / "w.weights.h5")
    optimizers = [model.optimizer] + ([model.d_optimizer] if hasattr(model, "d_optimizer") else [])
    fresh_optimizers = [fresh.optimizer] + ([fresh.d_optimizer] if hasattr(fresh, "d_optimizer") else [])
    for old, new in zip(optimizers, fresh_optimizers, strict=True):
        assert int(new.iterations) == 1
        for a, b in zip(old.variables, new.variables, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=0)


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
