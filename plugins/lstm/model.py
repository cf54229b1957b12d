"""Recurrent builder: [embedding] -> stacked (bi)LSTM/GRU -> [dense] -> task head."""

from __future__ import annotations

from typing import Any

import keras
from zoo_plugins.lstm.embeddings import load_word_vectors

from zoo.sdk import DatasetInfo, ZooError, model_input, task_head

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_recurrent(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Token ids (text) go through an embedding; `(time, features)` sequences go in directly."""
    if cfg.cell not in CELLS:
        raise ZooError(f"model.cell={cfg.cell!r}: expected lstm or gru")
    inputs = model_input(info)
    if info.modality == "text":
        x = embedding(cfg, info)(inputs)
    elif len(info.input_shape) == 2:
        x = inputs
    else:
        raise ZooError(f"model {cfg.name} needs token ids or (time, features) sequences, but the "
                       f"dataset gives {info.modality} of shape {tuple(info.input_shape)}: "
                       "use a text or sequence dataset, or model=mlp")
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="input_dropout")(x)
    for i, units in enumerate(cfg.units):
        last = i == len(cfg.units) - 1
        layer = CELLS[cfg.cell](units, return_sequences=not last, name=f"{cfg.cell}_{i}")
        if cfg.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi{cfg.cell}_{i}")
        x = layer(x)
        if cfg.dropout > 0 and not last:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    if cfg.dense_units:
        x = keras.layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    return keras.Model(inputs, task_head(x, info), name=cfg.name)


def embedding(cfg: Any, info: DatasetInfo) -> keras.layers.Embedding:
    """A masked embedding of the vocabulary, initialised from word vectors when given."""
    vocabulary = info.text.vocabulary
    size = int(info.text.vocabulary_size or len(vocabulary or []) or cfg.max_tokens)
    vectors = load_word_vectors(cfg.embeddings_path, vocabulary) \
        if cfg.embeddings_path else None
    layer = keras.layers.Embedding(size, cfg.embedding_dim if vectors is None else vectors.shape[1],
                                   mask_zero=True, trainable=cfg.train_embeddings, name="embedding")
    if vectors is not None:
        layer.build((None,))
        layer.embeddings.assign(vectors)
    return layer
