"""The BERT family on keras-hub: fine-tune a pretrained checkpoint or train a sized BERT from
scratch (WordPiece vocabulary from the training split); masked-language-model pre-training."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import (
    CLASSIFICATION,
    UNLABELLED,
    ConformanceCase,
    ModelConfig,
    ModelSpec,
    bounded,
    hookimpl,
    lazy,
)


@dataclass
class BertConfig(ModelConfig):
    name: str = "bert"
    # a size (tiny | mini | small | base: trained from scratch) or a checkpoint: a directory
    # (keras-hub preset or Hugging Face format), an installed package holding one, or a
    # keras-hub preset name (needs network)
    preset: str = "tiny"
    pretrained: bool = True  # false: the checkpoint's architecture with random weights
    sequence_length: int = bounded(128, ge=1)  # tokens per example, [CLS] and [SEP] included
    vocabulary_size: int = bounded(8000, ge=1)  # WordPiece vocabulary fitted on the training split (sizes)
    lowercase: bool = True  # sizes only: a checkpoint brings its own tokenizer
    dropout: float = bounded(0.1, ge=0, lt=1)  # before the classification head


@dataclass
class BertMLMConfig(BertConfig):
    name: str = "bert_mlm"
    mask_rate: float = bounded(0.15, gt=0, lt=1)  # share of tokens predicted (80% [MASK], 10% random)
    max_predictions: int = bounded(20, ge=1)  # masked positions per example
    mask_copies: int = bounded(1, ge=1)  # masked copies of the training split (BERT's dupe factor)


def bert_cost(cfg: BertConfig, batch_size: int) -> dict[str, float]:
    """The token embedding and one batch's attention scores, in float32 bytes (sizes only)."""
    from zoo_plugins.bert.presets import SIZES

    if cfg.preset not in SIZES:
        return {}
    size, seq, vocab = SIZES[cfg.preset], cfg.sequence_length, cfg.vocabulary_size
    return {f"the token embedding (model.vocabulary_size={vocab} x hidden_dim {size['hidden_dim']})":
            4.0 * vocab * size["hidden_dim"],
            f"one batch's attention scores (model.sequence_length={seq} squared x "
            f"{size['num_heads']} heads x batch {batch_size})":
            4.0 * batch_size * size["num_heads"] * seq * seq}


TINY = ("model.preset=tiny", "model.sequence_length=16", "model.vocabulary_size=300")


@hookimpl
def zoo_models() -> list[ModelSpec]:
    return [
        ModelSpec("bert", lazy("zoo_plugins.bert.model:build_classifier"),
                  "BERT text or sentence-pair classifier: a size from scratch or a checkpoint (model.preset)",
                  BertConfig, tasks=(CLASSIFICATION,),
                  modalities=("text",), data=lazy("zoo_plugins.bert.task:BertData"),
                  evaluation=lazy("zoo_plugins.text.scoring:CompiledEvaluator"),
                  export=lazy("zoo_plugins.bert.task:BertExport"),
                  conformance=ConformanceCase(TINY, data=lazy("zoo.sdk:labelled_text")),
                  cost=bert_cost),
        ModelSpec("bert_mlm", lazy("zoo_plugins.bert.mlm:build_masked_lm"),
                  "BERT masked-LM pre-training on unlabelled text (fine-tune: model.preset=RUN)",
                  BertMLMConfig, tasks=(UNLABELLED,),
                  modalities=("text",), data=lazy("zoo_plugins.bert.mlm:MaskedLMData"),
                  training=lazy("zoo_plugins.bert.mlm:MaskedLMTraining"),
                  evaluation=lazy("zoo_plugins.bert.mlm:MaskedLMEvaluator"),
                  export=lazy("zoo_plugins.bert.mlm:MaskedLMExport"),
                  # a pre-trained backbone is fine-tuned, not deployed: no export format
                  conformance=ConformanceCase((*TINY, "model.max_predictions=3"),
                                              data=lazy("zoo.sdk:unlabelled_text"), formats=()),
                  cost=bert_cost),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.bert.conf"]
