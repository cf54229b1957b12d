"""Masked-language-model pre-training: keras-hub's BertMaskedLM on the user's (unlabelled) text.

Masks are drawn once per split (`model.mask_copies` differently masked copies of the training
split, BERT's "dupe factor") from a seeded generator, so a resumed run sees exactly the batches
an uninterrupted one does. The trained backbone and tokenizer are saved
as a keras-hub preset in `RUN/preset`, which `model.preset=RUN` fine-tunes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from zoo_plugins.bert.model import make_backbone
from zoo_plugins.bert.task import INPUTS, first_text, tokenizer_for
from zoo_plugins.text.language_model import LanguageModel, token_scores

from zoo.sdk import DataPreparer, DatasetInfo, Evaluator, ExportModule, Prepared, RawSplits, ZooError

MASK_INPUT = "mask_positions"


def build_masked_lm(cfg: Any, info: DatasetInfo) -> Any:
    """A keras-hub BertMaskedLM (no preprocessor: it takes token ids and mask positions)."""
    import keras_hub

    if info.modality != "text" or not info.input_shape:
        raise ZooError(f"model {cfg.name} pre-trains on text, but the dataset gives {info.modality} "
                       "data: use a text dataset (text_lines, text_csv, text_folder, tfds_text)")
    return keras_hub.models.BertMaskedLM(backbone=make_backbone(cfg, info), preprocessor=None,
                                         name="bert_mlm")


def mask_split(dataset: Any, tokenizer: Any, m: Any, seed: int, copies: int) -> tuple[Any, int]:
    """`copies` seeded maskings of the texts in `dataset` as `(inputs, mask_ids, mask_weights)`."""
    import tensorflow as tf
    from zoo_plugins.bert.task import to_inputs

    packed = to_inputs(dataset.map(lambda text, _: (first_text(text), 0)), tokenizer, m.sequence_length)
    columns = {name: [] for name in INPUTS}
    for features, _ in packed.batch(4096).as_numpy_iterator():
        for name in INPUTS:
            columns[name].append(features[name])
    packed_arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    special = [tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")]
    parts = [mask_tokens(packed_arrays, np.random.default_rng([seed, copy]), m, special,
                         tokenizer.token_to_id("[MASK]"), int(tokenizer.vocabulary_size()))
             for copy in range(copies)]
    inputs = {k: np.concatenate([p[0][k] for p in parts]) for k in (*INPUTS, MASK_INPUT)}
    ids, weights = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    return tf.data.Dataset.from_tensor_slices((inputs, ids, weights)), len(ids)


def mask_tokens(packed: dict[str, np.ndarray], rng: np.random.Generator, m: Any, special: list[int],
                mask_id: int, vocabulary_size: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """BERT's masking (Devlin et al. 2019, create_pretraining_data.py), seeded.

    keras-hub's `MaskedLMMaskGenerator` draws from unseeded stateful ops, so a resumed run would
    see other masks; this draws from `rng`. Per example, round(mask_rate x tokens) non-special
    positions (at least 1, at most max_predictions) are chosen; 80% become [MASK], 10% a random
    token, 10% stay.
    """
    ids = packed["token_ids"]
    n, length = ids.shape
    selectable = ~np.isin(ids, special)
    scores = np.where(selectable, rng.random((n, length)), np.inf)
    counts = np.clip(np.rint(m.mask_rate * selectable.sum(1)), 1, m.max_predictions).astype(int)
    counts = np.minimum(counts, selectable.sum(1))
    chosen = np.argsort(scores, axis=1, kind="stable")[:, :m.max_predictions]
    used = np.arange(chosen.shape[1])[None, :] < counts[:, None]
    positions = np.sort(np.where(used, chosen, length), axis=1)  # unused slots sort last
    used = positions < length
    positions = np.where(used, positions, 0).astype(np.int32)
    rows = np.arange(n)[:, None]
    labels = np.where(used, ids[rows, positions], 0).astype(np.int32)
    action = rng.random(positions.shape)
    replaced = np.where(action < 0.8, mask_id, rng.integers(0, vocabulary_size, positions.shape))
    replaced = np.where(action < 0.9, replaced, labels)
    masked = ids.copy()
    masked[rows, positions] = np.where(used, replaced, masked[rows, positions])
    pad = np.zeros((n, m.max_predictions - positions.shape[1]), np.int32)  # fewer tokens than slots
    inputs = {**packed, "token_ids": masked.astype(np.int32),
              MASK_INPUT: np.concatenate([positions, pad], 1)}
    weights = np.concatenate([used.astype(np.float32), pad.astype(np.float32)], 1)
    return inputs, np.concatenate([labels, pad], 1), weights


class MaskedLMData(DataPreparer):
    """Tokenise, then mask every split (seeded; the training split `model.mask_copies` times)."""

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        cfg, run = self.cfg, self.run
        m = cfg.model
        if not 0 < m.mask_rate < 1 or m.max_predictions < 1 or m.mask_copies < 1:
            raise ZooError(f"model.mask_rate={m.mask_rate}, max_predictions={m.max_predictions}, "
                           f"mask_copies={m.mask_copies}: need 0 < mask_rate < 1 and positive counts")
        info, tokenizer = tokenizer_for(splits, cfg, run, fit)
        seeds = {"train": cfg.trainer.seed, "validation": cfg.trainer.seed + 1000,
                 "test": cfg.trainer.seed + 2000}
        masked = {}
        for split, seed in seeds.items():
            copies = m.mask_copies if split == "train" else 1
            masked[split], count = mask_split(getattr(splits, split), tokenizer, m, seed, copies)
            info.num_examples[split] = count
        if fit:
            text = info.text
            text.inputs, text.max_predictions = [*INPUTS, MASK_INPUT], m.max_predictions
            info.save(run.dataset_info)
        return Prepared(**masked, info=info, tokenizer=tokenizer)


class MaskedLMTraining(LanguageModel):
    """The masked-token cross-entropy; the pre-trained backbone and tokenizer become `RUN/preset`."""

    loss = "masked_token_cross_entropy"
    metric = "masked_accuracy"
    objective = "masked-LM pre-training trains on the masked-token cross-entropy"
    fixed = ("loss",)

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        # keras-hub's unused pooler gets no gradient in MLM (BERT trained it with next-sentence loss)
        warnings.filterwarnings("ignore", message=r"Gradients do not exist for variables \['pooled_dense")
        super().compile(model, optimizer, info)


class MaskedLMEvaluator(Evaluator):
    """Masked accuracy (the headline), the masked-token loss and its perplexity."""

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        """Accuracy and loss over every real masked position of the split, summed position by
        position: they do not depend on the batching, nor on the model being compiled (`zoo
        evaluate` scores a rebuilt, uncompiled model)."""
        from zoo.sdk import Evaluation

        loss, accuracy, _ = token_scores(model, dataset)
        return Evaluation({"masked_accuracy": accuracy, "masked_token_loss": loss,
                           "perplexity": math.exp(min(loss, 50.0))})

    def headline(self, info: DatasetInfo) -> str:
        return "masked_accuracy"


class MaskedLMExport(ExportModule):
    """A pre-trained backbone is not deployed: `zoo export` says how to fine-tune it."""

    def parts(self, model: Any, prepared: Prepared) -> list:
        raise ZooError("a bert_mlm run is a pre-trained backbone, not a deployable model: fine-tune it "
                       "(`zoo train experiment=bert_text_csv model.preset=RUN ...`) and export that run; "
                       "RUN/preset is a keras-hub preset for other tools")
