"""The LSTM family: recurrent networks (LSTM or GRU, optionally bidirectional) for text
classification on learned word embeddings and for numeric sequences."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import ConformanceCase, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class LSTMConfig(ModelConfig):
    name: str = "lstm"
    cell: str = "lstm"  # lstm | gru
    units: list[int] = bounded(default_factory=lambda: [64], ge=1)  # one recurrent layer per entry
    bidirectional: bool = False
    dropout: float = bounded(0.2, ge=0, lt=1)  # after the embedding and between recurrent layers
    dense_units: int = bounded(0, ge=0)  # 0: no hidden dense layer before the head
    # text only: the vocabulary (fitted on the training split) and the embedding
    max_tokens: int = bounded(20000, ge=1)  # vocabulary size, padding and out-of-vocabulary included
    sequence_length: int = bounded(200, ge=1)  # tokens kept per text (padded or cut)
    embedding_dim: int = bounded(64, ge=1)
    embeddings_path: str | None = None  # word vectors as text: `word v1 v2 ...` per line (GloVe)
    train_embeddings: bool = True


@dataclass
class GRUConfig(LSTMConfig):
    name: str = "gru"
    cell: str = "gru"


@hookimpl
def zoo_models() -> list[ModelSpec]:
    roles = {"data": lazy("zoo_plugins.lstm.task:RecurrentData"),
             "evaluation": lazy("zoo_plugins.text.scoring:CompiledEvaluator"),
             "export": lazy("zoo_plugins.lstm.task:RecurrentExport")}
    build = lazy("zoo_plugins.lstm.model:build_recurrent")
    # recurrent layers lower to TFLite only with Flex ops, which the TFLite interpreter cannot run
    case = ConformanceCase(("model.units=[4]", "model.sequence_length=16", "model.max_tokens=500",
                            "model.embedding_dim=8"), data=lazy("zoo.sdk:labelled_text"),
                           formats=("onnx", "savedmodel"))
    return [
        ModelSpec("lstm", build, "stacked (bi)LSTM on word embeddings (text) or on (time, features)",
                  LSTMConfig, modalities=("text", "sequence"), **roles, conformance=case,
                  cost=recurrent_cost),
        ModelSpec("gru", build, "stacked (bi)GRU on word embeddings (text) or on (time, features)",
                  GRUConfig, modalities=("text", "sequence"), **roles, conformance=case,
                  cost=recurrent_cost),
    ]


def recurrent_cost(cfg: LSTMConfig, batch_size: int) -> dict[str, float]:
    """The embedding table and one batch of embedded text, in float32 bytes (text inputs)."""
    seq, width = cfg.sequence_length, max([cfg.embedding_dim, *cfg.units])
    return {f"the embedding table (model.max_tokens={cfg.max_tokens} x embedding_dim {cfg.embedding_dim})":
            4.0 * cfg.max_tokens * cfg.embedding_dim,
            f"one batch of embedded text (model.sequence_length={seq} x width {width} x batch {batch_size})":
            4.0 * batch_size * seq * width}


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.lstm.conf"]
