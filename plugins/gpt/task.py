"""The causal-LM roles: tokenise and pack the text, train on next-token cross-entropy, score
perplexity, export the decoder, generate."""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any

import keras
from zoo_plugins.gpt import tokenizer as bpe
from zoo_plugins.gpt.blocks import pack, token_stream
from zoo_plugins.gpt.sizes import checkpoint, is_size
from zoo_plugins.text.language_model import LanguageModel, token_scores

from zoo.sdk import (
    DataPreparer,
    DatasetInfo,
    Evaluator,
    ExportModule,
    Prepared,
    RawSplits,
    ZooError,
)

log = logging.getLogger("zoo.train")
INPUTS = ("token_ids", "padding_mask")
SPLITS = ("train", "validation", "test")


def first_text(text: Any) -> Any:
    """The text of an example (the first of a pair); labels of labelled sets are ignored."""
    return text[0] if isinstance(text, tuple) else text


class CausalLMData(DataPreparer):
    """Tokenise every split with a byte-level BPE (fitted on the training split, or the checkpoint's)
    and pack the documents into blocks of `model.sequence_length` tokens."""

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        cfg, run = self.cfg, self.run
        info = copy.deepcopy(splits.info)
        if info.modality != "text":
            raise ZooError(f"model {cfg.model.name} learns from text, but dataset {info.name!r} is "
                           f"{info.modality}: use text_lines (a .txt file or a folder of them) or text_csv")
        texts = {split: [t.decode("utf-8") for t in getattr(splits, split).map(
            lambda text, *_: first_text(text)).as_numpy_iterator()] for split in SPLITS}
        folder = Path(run.path)
        if fit:
            tokenizer = fit_tokenizer(texts["train"], cfg.model)
            bpe.save_tokenizer(tokenizer, folder)
        else:
            info = DatasetInfo.load(run.dataset_info)
            tokenizer = bpe.load_tokenizer(folder)
        end_id = int(tokenizer.end_token_id)
        length = int(cfg.model.sequence_length)
        arrays, tokens = {}, {}
        for split in SPLITS:
            ids = token_stream(texts[split], folder / bpe.TOKENIZER_JSON, end_id)
            arrays[split] = pack(ids, length, end_id)
            tokens[split] = int(len(ids))
        import tensorflow as tf

        for split in SPLITS:
            info.num_examples[split] = int(len(arrays[split][1]))
        if fit:
            info.input_shape, info.input_dtype = (length,), "int32"
            text = info.text
            text.inputs, text.vocabulary_size = list(INPUTS), int(tokenizer.vocabulary_size())
            text.end_token_id, text.tokens, text.tokenizer = end_id, tokens, bpe.TOKENIZER_JSON
            info.save(run.dataset_info)
        return Prepared(**{split: tf.data.Dataset.from_tensor_slices(arrays[split]) for split in SPLITS},
                        info=info, tokenizer=tokenizer, arrays=arrays)


class CausalLMTraining(LanguageModel):
    """Next-token prediction on blocks of packed documents; tokens/s logged each epoch."""

    def callbacks(self, prepared: Prepared) -> list:
        cfg = self.cfg
        return [TokensPerSecond(int(cfg.trainer.batch_size), int(cfg.model.sequence_length)),
                *super().callbacks(prepared)]


class CausalLMEvaluator(Evaluator):
    """Perplexity is the headline."""

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        """Perplexity as exp(mean next-token loss over every real token of the split), summed token by
        token so it does not depend on the batching (Keras averages per batch)."""
        from zoo.sdk import Evaluation

        loss, accuracy, tokens = token_scores(model, dataset)
        return Evaluation({"perplexity": math.exp(min(loss, 50.0)), "token_loss": loss,
                           "token_accuracy": accuracy, "tokens": int(tokens)})

    def headline(self, info: DatasetInfo) -> str:
        return "perplexity"


class CausalLMExport(ExportModule):
    """The decoder with its key/value cache; `zoo generate` on the run."""

    def parts(self, model: Any, prepared: Prepared) -> list:
        from zoo_plugins.gpt.export import decoder_part

        return [decoder_part(model, self.cfg, prepared.info, prepared.arrays)]

    def generate(self, prompts: list[str], options: Any, checkpoint: str = "final") -> list[str]:
        from zoo_plugins.gpt.generate import generate_from_run

        return generate_from_run(self.run, self.cfg, prompts, options, checkpoint)


def fit_tokenizer(train_texts: list[str], model_cfg: Any) -> Any:
    """The checkpoint's GPT2Tokenizer, or a byte-level BPE fitted on the training texts."""
    if not is_size(model_cfg.preset):
        import keras_hub

        return keras_hub.models.GPT2Tokenizer.from_preset(str(checkpoint(model_cfg.preset)))
    vocabulary, merges = bpe.bpe_files(bpe.train_bpe(train_texts, int(model_cfg.vocabulary_size)))
    return bpe.keras_tokenizer(vocabulary, merges)


class TokensPerSecond(keras.callbacks.Callback):
    """Log training throughput (tokens/s) and validation perplexity after each epoch."""

    def __init__(self, batch_size: int, sequence_length: int) -> None:
        super().__init__()
        self.batch_size, self.length, self.started, self.steps = batch_size, sequence_length, 0.0, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started, self.steps, self.seconds = time.perf_counter(), 0, None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self.seconds is None:  # validation starts: the epoch's training steps are done
            self.seconds = time.perf_counter() - self.started

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        seconds = self.seconds or time.perf_counter() - self.started
        replicas = self.model.distribute_strategy.num_replicas_in_sync
        tokens = self.steps * self.batch_size * replicas * self.length
        val = logs.get("val_loss")
        perplexity = f", validation perplexity {math.exp(min(val, 50.0)):.2f}" if val is not None else ""
        log.info("epoch %d: %s training tokens/s%s", epoch + 1,
                 f"{tokens / max(seconds, 1e-9):,.0f}", perplexity)
