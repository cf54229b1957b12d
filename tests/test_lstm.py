"""The LSTM family trains on real text and on sequences, on one device or mirrored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from text_corpus import write_corpus

import zoo
from zoo.core.errors import DataError
from zoo.data.base import DatasetInfo, TextFacts

QUICK = ["trainer.tensorboard=false", "trainer.plots=false", "trainer.batch_size=16"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "docs.csv", per_class=120)


def text_run(corpus, tmp_path, *overrides):
    cfg = zoo.compose(["experiment=lstm_text_csv", f"dataset.path={corpus}", "dataset.label_column=topic",
                       "model.sequence_length=24", "model.units=[16]", "model.embedding_dim=16",
                       *QUICK, *overrides])
    return zoo.train(cfg, tmp_path / "run")


def test_lstm_text_csv_learns_saves_its_vocabulary_and_evaluates(corpus, tmp_path):
    result = text_run(corpus, tmp_path, "trainer.epochs=4")
    losses = result.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert result.metrics["test"]["accuracy"] > 0.75  # two balanced topics: chance is 0.5
    vocabulary = (result.run_dir / "vocabulary.txt").read_text().split("\n")
    assert vocabulary[:2] == ["", "[UNK]"] and "array" in vocabulary
    info = json.loads((result.run_dir / "dataset.json").read_text())
    assert info["input_dtype"] == "int32" and info["input_shape"] == [24]
    assert info["class_names"] == ["arrays", "files"]
    evaluation = zoo.evaluate(result.run_dir)
    assert evaluation["test"]["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    assert {"precision", "recall", "f1"} <= set(evaluation["test"])
    assert (result.run_dir / "evaluation" / "confusion_matrix.png").exists()


def test_bidirectional_gru_trains_mirrored_in_mixed_precision(corpus, tmp_path):
    result = text_run(corpus, tmp_path, "model=gru", "model.bidirectional=true", "trainer.epochs=2",
                      "strategy=mirrored", "strategy.cpu_devices=2", "trainer.precision=mixed_float16")
    assert result.metrics["replicas"] == 2
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.metrics["test"]["accuracy"] > 0.6


def test_embedding_starts_from_a_word_vector_file(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("3 4\narray 0.5 -0.5 1.0 2.0\nfile 1 2 3 4\nzebra 9 9 9 9\n")  # word2vec header
    vocabulary = ["", "[UNK]", "file", "array", "the"]
    info = DatasetInfo("docs", "classification", "text", (6,), num_classes=2, input_dtype="int32",
                       text=TextFacts(vocabulary=vocabulary, vocabulary_size=5))
    model = zoo.build_model("lstm", info=info, embeddings_path=str(vectors), train_embeddings=False)
    table = model.get_layer("embedding").embeddings.numpy()
    assert table.shape == (5, 4) and not model.get_layer("embedding").trainable
    np.testing.assert_allclose(table[3], [0.5, -0.5, 1.0, 2.0])
    np.testing.assert_allclose(table[2], [1, 2, 3, 4])
    np.testing.assert_allclose(table[0], 0.0)
    with pytest.raises(DataError, match="no vector for any word"):
        zoo.build_model("lstm", info=info, embeddings_path=str(write_vectors(tmp_path, "cat 1 2\n")))


def write_vectors(tmp_path, text):
    path = tmp_path / "other.txt"
    path.write_text(text)
    return path


def test_lstm_timeseries_forecasts_better_than_the_mean(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(600)
    level = np.sin(t / 8) + 0.1 * rng.normal(size=len(t))
    lines = ["step,level"] + [f"{i},{v:.4f}" for i, v in zip(t, level, strict=True)]
    (tmp_path / "series.csv").write_text("\n".join(lines))
    cfg = zoo.compose(["experiment=lstm_timeseries", f"dataset.path={tmp_path / 'series.csv'}",
                       "dataset.target=level", "dataset.features=[level]", "dataset.window=16",
                       "trainer.epochs=8", *QUICK])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.history["loss"][-1] < 0.5 * result.history["loss"][0]
    assert result.metrics["test"]["mae"] < 0.5 * np.abs(level - level.mean()).mean()


def test_lstm_imdb_trains_on_tfds_reviews_offline(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=64, data_dir=str(tmp_path / "tfds")):
        cfg = zoo.compose(["experiment=lstm_imdb", f"dataset.data_dir={tmp_path / 'tfds'}",
                           "trainer.epochs=3",
                           "model.sequence_length=16", "model.units=[8]", "model.max_tokens=500", *QUICK])
        result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["task"] == "classification" and result.metrics["epochs"] == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
