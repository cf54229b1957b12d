"""Causal-LM task: tokenise and pack the text, train on next-token cross-entropy, score perplexity,
export the decoder, generate."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import keras
from zoo_plugins.gpt import tokenizer as bpe
from zoo_plugins.gpt.blocks import pack, token_stream
from zoo_plugins.gpt.sizes import PRESET_FOLDER, checkpoint, is_size

from zoo.sdk import DatasetInfo, RawSplits, Task, ZooError

log = logging.getLogger("zoo.train")
INPUTS = ("token_ids", "padding_mask")
SPLITS = ("train", "validation", "test")


def first_text(text: Any) -> Any:
    """The text of an example (the first of a pair); labels of labelled sets are ignored."""
    return text[0] if isinstance(text, tuple) else text


class CausalLMTask(Task):
    """Next-token prediction on blocks of packed documents; perplexity is the headline."""

    def prepare_data(self, splits: RawSplits, fit: bool) -> RawSplits:
        cfg, run = self.cfg, self.run
        info = splits.info
        if info.modality != "text":
            raise ZooError(f"model {cfg.model.name} learns from text, but dataset {info.name!r} is "
                           f"{info.modality}: use text_lines (a .txt file or a folder of them) or text_csv")
        texts = {split: [t.decode("utf-8") for t in getattr(splits, split).map(
            lambda text, *_: first_text(text)).as_numpy_iterator()] for split in SPLITS}
        folder = Path(run.path)
        if fit:
            self.tokenizer = fit_tokenizer(texts["train"], cfg.model)
            bpe.save_tokenizer(self.tokenizer, folder)
        else:
            info = DatasetInfo.load(run.dataset_info)
            self.tokenizer = bpe.load_tokenizer(folder)
        end_id = int(self.tokenizer.end_token_id)
        length = int(cfg.model.sequence_length)
        self.arrays, tokens = {}, {}
        for split in SPLITS:
            ids = token_stream(texts[split], folder / bpe.TOKENIZER_JSON, end_id)
            self.arrays[split] = pack(ids, length, end_id)
            tokens[split] = int(len(ids))
        import tensorflow as tf

        for split in SPLITS:
            setattr(splits, split, tf.data.Dataset.from_tensor_slices(self.arrays[split]))
            info.num_examples[split] = int(len(self.arrays[split][1]))
        if fit:
            info.input_shape, info.input_dtype = (length,), "int32"
            text = info.text
            text.inputs, text.vocabulary_size = list(INPUTS), int(self.tokenizer.vocabulary_size())
            text.end_token_id, text.tokens, text.tokenizer = end_id, tokens, bpe.TOKENIZER_JSON
            info.save(run.dataset_info)
        splits.info = info
        return splits

    def check(self, info: DatasetInfo) -> None:
        if self.cfg.trainer.loss or self.cfg.trainer.metrics:
            raise ZooError("trainer.loss/trainer.metrics are set: a GPT trains on next-token "
                           "cross-entropy and reports perplexity; unset them")

    def loss_name(self, info: DatasetInfo) -> str:
        return "next_token_cross_entropy"

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return ["token_accuracy"]

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        # mean over real tokens (a split's last block is padded with weight 0): exp(loss) = perplexity
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          reduction="mean_with_sample_weight")
        model.compile(optimizer=optimizer, loss=loss,
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
                      jit_compile=self.cfg.trainer.jit_compile)

    def callbacks(self, splits: RawSplits) -> list:
        cfg = self.cfg
        return [TokensPerSecond(int(cfg.trainer.batch_size), int(cfg.model.sequence_length)),
                SavePreset(Path(self.run.path) / PRESET_FOLDER, self.tokenizer)]

    def evaluate(self, model: Any, dataset: Any, splits: RawSplits) -> Any:
        """Perplexity as exp(mean next-token loss over every real token of the split), summed token by
        token so it does not depend on the batching (Keras averages per batch)."""
        import tensorflow as tf

        from zoo.sdk import Evaluation

        @tf.function(reduce_retracing=True)
        def sums(x: Any, y: Any, weight: Any) -> Any:
            logits = tf.cast(model(x, training=False), tf.float32)
            loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y), tf.float32)
            return tf.reduce_sum(loss * weight), tf.reduce_sum(hit * weight), tf.reduce_sum(weight)

        loss_sum = correct = tokens = 0.0
        for batch in dataset:
            parts = [float(v) for v in sums(*batch)]
            loss_sum, correct, tokens = loss_sum + parts[0], correct + parts[1], tokens + parts[2]
        loss = loss_sum / max(tokens, 1.0)
        return Evaluation({"perplexity": math.exp(min(loss, 50.0)), "token_loss": loss,
                           "token_accuracy": correct / max(tokens, 1.0), "tokens": int(tokens)})

    def headline(self, info: DatasetInfo) -> str:
        return "perplexity"

    def export_parts(self, model: Any, splits: RawSplits) -> list:
        from zoo_plugins.gpt.export import decoder_part

        return [decoder_part(model, self.cfg, splits.info, self.arrays)]

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


class SavePreset(keras.callbacks.Callback):
    """At the end of training, save backbone and tokenizer as a keras-hub preset (`RUN/preset`)."""

    def __init__(self, folder: Path, tokenizer: Any) -> None:
        super().__init__()
        self.folder, self.tokenizer = folder, tokenizer

    def on_train_end(self, logs: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.model.backbone.save_to_preset(str(self.folder))
        self.tokenizer.save_to_preset(str(self.folder))

