"""The GPT family on keras-hub: a GPT-2-architecture causal language model trained on your text
(byte-level BPE fitted on the training split), or fine-tuned from a checkpoint; text generation
with keras-hub's samplers."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import UNLABELLED, ConformanceCase, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class GPTConfig(ModelConfig):
    name: str = "gpt"
    # a size (tiny | mini | small: trained from scratch) or a checkpoint directory: a keras-hub
    # preset, a Hugging Face GPT-2 folder, or a finished gpt run (fine-tunes with its tokenizer)
    preset: str = "tiny"
    pretrained: bool = True  # false: the checkpoint's architecture with random weights
    sequence_length: int = bounded(128, ge=1)  # tokens per training block (the context the model learns)
    vocabulary_size: int = bounded(8000, ge=1)  # byte-level BPE fitted on the training split (sizes only)
    dropout: float = bounded(0.1, ge=0, lt=1)
    # overrides of the size's architecture (0: the size's value)
    num_layers: int = bounded(0, ge=0)  # 0: the size's value
    num_heads: int = bounded(0, ge=0)  # 0: the size's value
    hidden_dim: int = bounded(0, ge=0)  # 0: the size's value
    intermediate_dim: int = bounded(0, ge=0)  # 0: the size's value


@hookimpl
def zoo_models() -> list[ModelSpec]:
    return [
        ModelSpec("gpt", lazy("zoo_plugins.gpt.model:build_causal_lm"),
                  "GPT-2 causal language model on your text; generates text (zoo generate)",
                  GPTConfig, tasks=(UNLABELLED,), modalities=("text",),
                  data=lazy("zoo_plugins.gpt.task:CausalLMData"),
                  training=lazy("zoo_plugins.gpt.task:CausalLMTraining"),
                  evaluation=lazy("zoo_plugins.gpt.task:CausalLMEvaluator"),
                  export=lazy("zoo_plugins.gpt.task:CausalLMExport"),
                  # bundles generate through the ONNX decoding loop (zoo generate bundle=...)
                  conformance=ConformanceCase(
                      ("model.sequence_length=16", "model.vocabulary_size=300", "model.num_layers=1",
                       "model.num_heads=2", "model.hidden_dim=16", "model.intermediate_dim=32"),
                      data=lazy("zoo.sdk:unlabelled_text"), formats=("onnx",)),
                  cost=gpt_cost),
    ]


def gpt_cost(cfg: GPTConfig, batch_size: int) -> dict[str, float]:
    """The token embedding, one batch's attention scores and activations, in float32 bytes."""
    from zoo_plugins.gpt.sizes import architecture, is_size

    if not is_size(cfg.preset):
        return {}
    arch = architecture(cfg)
    seq, vocab, hidden = cfg.sequence_length, cfg.vocabulary_size, arch["hidden_dim"]
    return {f"the token embedding (model.vocabulary_size={vocab} x hidden_dim {hidden})":
            4.0 * vocab * hidden,
            f"one batch's attention scores (model.sequence_length={seq} squared x {arch['num_heads']} "
            f"heads x batch {batch_size})": 4.0 * batch_size * arch["num_heads"] * seq * seq,
            f"one batch's activations (model.sequence_length={seq} x intermediate_dim "
            f"{arch['intermediate_dim']} x batch {batch_size})":
                4.0 * batch_size * seq * arch["intermediate_dim"]}


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.gpt.conf"]
