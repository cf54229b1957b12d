"""Export of a family with its own Task and vocabulary: an LSTM text classifier (token ids in)."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

import zoo
from zoo.export.exporter import export
from zoo.runtime.bundle import load_bundle

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")
WORDS = {"pos": ["good", "great", "lovely", "happy"], "neg": ["bad", "awful", "poor", "ugly"]}
FILLER = ["the", "a", "movie", "was", "film", "plot", "very", "it"]


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """An LSTM trained on sentences whose label is said by two of their eight words."""
    root = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    with (root / "reviews.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(400):
            label = "pos" if i % 2 else "neg"
            words = rng.choices(FILLER, k=6) + rng.choices(WORDS[label], k=2)
            rng.shuffle(words)
            writer.writerow([" ".join(words), label])
    cfg = zoo.compose(["experiment=lstm_text_csv", f"dataset.path={root / 'reviews.csv'}", "model.units=[16]",
                       "model.sequence_length=16", "trainer.epochs=4", *QUICK])
    result = zoo.train(cfg, root / "run")
    assert result.metrics["test"]["accuracy"] > 0.8  # chance is 0.5
    return root / "run"


@pytest.mark.parametrize("fmt", ["onnx", "savedmodel"])
def test_lstm_bundle_takes_token_ids_and_carries_its_vocabulary(lstm_run, fmt):
    meta = export(lstm_run, format=fmt)
    check = meta["verification"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and check["keras"] > 0.8
    assert meta["inputs"][0]["dtype"] == "int32" and meta["inputs"][0]["shape"] == [None, 16]
    assert meta["modality"] == "text" and meta["preprocessing"]["normalize"] is False
    bundle = load_bundle(meta["bundle"]) if fmt == "onnx" else None
    vocabulary = (lstm_run / "export" / fmt / "vocabulary.txt").read_text().split("\n")
    assert "vocabulary.txt" in meta["assets"] and "great" in vocabulary
    if bundle is not None:  # ids of "great ... awful" sentences, looked up in the bundled vocabulary
        ids = {w: vocabulary.index(w) for w in ("great", "lovely", "awful", "ugly", "movie")}
        pos = np.array([[ids["great"], ids["lovely"], ids["movie"]] + [0] * 13], np.int32)
        neg = np.array([[ids["awful"], ids["ugly"], ids["movie"]] + [0] * 13], np.int32)
        labels = bundle.labels(bundle.predict([np.concatenate([pos, neg])]))
        assert labels == ["pos", "neg"]
    assert json.loads((lstm_run / "export" / fmt / "export.json").read_text())["format"] == fmt


def test_lstm_bundle_predicts_on_raw_text_as_the_keras_vectorizer_and_model_do(lstm_run, tmp_path):
    import tensorflow as tf
    from zoo_plugins.lstm.task import make_vectorizer

    from zoo.evaluation.evaluate import load_run
    from zoo.serving.predict import predict

    export(lstm_run, format="onnx", output=tmp_path / "bundle")
    rng = random.Random(7)
    texts, truth = [], []
    for i in range(60):  # unseen sentences, with capitals and punctuation the vectorizer strips
        label = "pos" if i % 2 else "neg"
        words = rng.choices(FILLER, k=5) + [w.upper() + "!" for w in rng.choices(WORDS[label], k=2)]
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        truth.append(label)
    (tmp_path / "reviews.txt").write_text("\n".join(texts) + "\n")
    records = predict(tmp_path / "bundle", tmp_path / "reviews.txt", tmp_path / "out.csv")
    assert [r["text"] for r in records] == texts
    assert len(list(csv.DictReader((tmp_path / "out.csv").open()))) == 60
    assert np.mean([r["label"] == t for r, t in zip(records, truth, strict=True)]) > 0.8  # chance is 0.5
    _, cfg, _, _, model = load_run(lstm_run, "final")
    vocabulary = (lstm_run / "vocabulary.txt").read_text().split("\n")[:-1]
    ids = make_vectorizer(cfg.model, vocabulary)(tf.constant(texts))
    expected = np.asarray(model(tf.cast(ids, tf.int32), training=False))
    got = np.array([[r["probabilities"][c] for c in ("neg", "pos")] for r in records])
    np.testing.assert_allclose(got, expected, atol=1e-5)
