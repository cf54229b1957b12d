"""BERT masked-language-model pre-training on unlabelled text, and fine-tuning its result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from text_corpus import SOURCES, docstrings

import zoo
from zoo.core.errors import DataError, ZooError
from zoo.data.base import DatasetInfo

QUICK = ["trainer.tensorboard=false", "trainer.plots=false"]
MLM = ["experiment=bert_mlm", "model.preset=tiny", "model.sequence_length=32", "model.vocabulary_size=800",
       "model.max_predictions=6", *QUICK]


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    """Unlabelled text: one docstring paragraph of numpy, os, shutil... per line."""
    path = tmp_path_factory.mktemp("mlm") / "docstrings.txt"
    path.write_text("\n".join(text for modules in SOURCES.values() for text in docstrings(modules)))
    return path


def test_pretrain_mirrored_then_fine_tune_from_the_run(lines, tmp_path):
    cfg = zoo.compose([*MLM, f"dataset.path={lines}", "dataset.limit=256", "model.mask_copies=2",
                       "trainer.epochs=3", "trainer.learning_rate=3e-3", "strategy=mirrored",
                       "strategy.cpu_devices=2"])
    result = zoo.train(cfg, tmp_path / "mlm")
    history, test = result.history, result.metrics["test"]
    assert result.metrics["replicas"] == 2 and result.metrics["task"] == "unlabelled"
    assert history["loss"][-1] < history["loss"][0] and history["val_loss"][-1] < history["val_loss"][0]
    assert test["perplexity"] == pytest.approx(math.exp(test["masked_token_loss"]), rel=1e-6)
    # an untrained model guesses about uniformly over the 800-token vocabulary: perplexity ~800
    assert test["perplexity"] < 200 and test["masked_accuracy"] > 0.03, test  # chance: 1/800
    preset = result.run_dir / "preset"
    assert (preset / "config.json").exists() and (preset / "tokenizer.json").exists()

    # fine-tuning with model.preset=RUN gets the pre-trained tokenizer and weights
    from zoo_plugins.bert.tokenizer import fit_tokenizer

    fine_tune = zoo.compose(["model=bert", f"model.preset={result.run_dir}", "model.sequence_length=32"])
    tokenizer = fit_tokenizer(None, fine_tune.model)
    assert "\n".join(tokenizer.get_vocabulary()) + "\n" == (result.run_dir / "vocab.txt").read_text()
    info = DatasetInfo("docs", "classification", "text", (32,), num_classes=2, input_dtype="int32")
    loaded = zoo.build_model("bert", info=info, preset=str(result.run_dir))
    backbone = next(layer for layer in loaded.layers if layer.name.startswith("bert_backbone"))
    pretrained = result.model.backbone.get_layer("token_embedding").embeddings.numpy()
    np.testing.assert_array_equal(backbone.get_layer("token_embedding").embeddings.numpy(), pretrained)


def test_masks_are_seeded_per_split_and_copy(lines, tmp_path):
    from zoo_plugins.bert.mlm import MaskedLMData

    from zoo.run.rundir import RunDir

    cfg = zoo.compose([*MLM, f"dataset.path={lines}", "model.mask_copies=2"])

    def masked_positions(folder):
        folder.mkdir()
        splits = zoo.load_dataset("text_lines", path=str(lines))
        count = splits.info.num_examples["train"]
        prepared = MaskedLMData(cfg, RunDir(folder)).prepare(splits, fit=True)
        assert splits.info.num_examples["train"] == count  # the raw splits are left as they are
        assert prepared.info.num_examples["train"] == 2 * count
        batch = next(iter(prepared.train.batch(2 * count)))
        return batch[0]["mask_positions"].numpy(), batch[0]["token_ids"].numpy(), count

    positions, ids, count = masked_positions(tmp_path / "a")
    again, ids_again, _ = masked_positions(tmp_path / "b")
    np.testing.assert_array_equal(positions, again)  # a resumed run sees the same masks
    np.testing.assert_array_equal(ids, ids_again)
    assert (positions[:count] != positions[count:]).any()  # the copies are masked differently
    assert (ids == 4).mean() > 0.03  # [MASK] tokens are in the inputs
    info = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert info["text"]["inputs"][-1] == "mask_positions"


def test_unlabelled_text_is_refused_by_a_classifier_and_bad_paths_are_named(lines, tmp_path):
    cfg = zoo.compose(["model=bert", "model.preset=tiny", "dataset=text_lines", f"dataset.path={lines}",
                       "model.sequence_length=16", *QUICK])
    with pytest.raises(ZooError, match="unlabelled.*needs labels"):
        zoo.train(cfg, tmp_path / "run")
    with pytest.raises(DataError, match="not found"):
        zoo.load_dataset("text_lines", path=str(tmp_path / "missing.txt"))
    short = tmp_path / "short.txt"
    short.write_text("one line that is long enough\n\nshort\n")
    with pytest.raises(DataError, match="1 text example"):
        zoo.load_dataset("text_lines", path=str(short))
    from zoo_plugins.bert.presets import checkpoint

    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "config.yaml").write_text("model: {}\n")
    with pytest.raises(ZooError, match="run folder without a pre-trained preset"):
        checkpoint(str(tmp_path / "clf"))
