"""The training part GPT and BERT-MLM share: a language model trains on its own token
cross-entropy, reports token accuracy, and leaves its backbone and tokenizer as a keras-hub preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from zoo.sdk import DatasetInfo, Prepared, Training, ZooError

PRESET_FOLDER = "preset"  # RUN/preset: what `model.preset=RUN` fine-tunes or continues


class LanguageModel(Training):
    """Token cross-entropy averaged over the real tokens (padding weighs 0), so exp(loss) is the
    perplexity; `trainer.loss` (and the `fixed` settings) may not be set."""

    loss = "next_token_cross_entropy"  # the loss's name in logs and checks
    metric = "token_accuracy"  # the one (weighted) metric
    objective = "a GPT trains on next-token cross-entropy and reports perplexity"
    fixed = ("loss", "metrics")  # the trainer settings this family decides itself

    def check(self, info: DatasetInfo) -> None:
        chosen = [f"trainer.{key}={self.cfg.trainer[key]!r}" for key in self.fixed if self.cfg.trainer[key]]
        if chosen:
            raise ZooError(f"{', '.join(chosen)}: {self.objective}; unset "
                           f"{' and '.join(f'trainer.{key}' for key in self.fixed)}")

    def loss_name(self, info: DatasetInfo) -> str:
        return self.loss

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return [self.metric]

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        # mean over real tokens (a split's last block, a mask's unused slots weigh 0): exp(loss) = perplexity
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          reduction="mean_with_sample_weight")
        model.compile(optimizer=optimizer, loss=loss,
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name=self.metric)],
                      jit_compile=self.cfg.trainer.jit_compile)

    def callbacks(self, prepared: Prepared) -> list:
        return [SavePreset(Path(self.run.path) / PRESET_FOLDER, prepared.tokenizer)]


def save_preset(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Write the backbone and tokenizer as a keras-hub preset directory."""
    folder.mkdir(parents=True, exist_ok=True)
    model.backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return folder


class SavePreset(keras.callbacks.Callback):
    """At the end of training, save the backbone and tokenizer as a keras-hub preset (`RUN/preset`)."""

    def __init__(self, folder: Path, tokenizer: Any) -> None:
        super().__init__()
        self.folder, self.tokenizer = folder, tokenizer

    def on_train_end(self, logs: dict | None = None) -> None:
        save_preset(self.model, self.tokenizer, self.folder)


def token_scores(model: Any, dataset: Any) -> tuple[float, float, float]:
    """Mean token loss, token accuracy and the number of tokens over every weighted token of
    `dataset` (batches of inputs, target ids, weights), summed token by token: they depend neither
    on the batching (Keras averages per batch) nor on the model being compiled (`zoo evaluate`
    scores a rebuilt, uncompiled model)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def sums(x: Any, y: Any, weight: Any) -> Any:
        logits = tf.cast(model(x, training=False), tf.float32)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y), tf.float32)
        weight = tf.cast(weight, tf.float32)
        return tf.reduce_sum(loss * weight), tf.reduce_sum(hit * weight), tf.reduce_sum(weight)

    loss_sum = correct = tokens = 0.0
    for batch in dataset:
        parts = [float(v) for v in sums(*batch)]
        loss_sum, correct, tokens = loss_sum + parts[0], correct + parts[1], tokens + parts[2]
    return loss_sum / max(tokens, 1.0), correct / max(tokens, 1.0), tokens
