"""The GPT family on keras-hub: a GPT-2-architecture causal language model trained on your text
(byte-level BPE fitted on the training split), or fine-tuned from a checkpoint; text generation
with keras-hub's samplers."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import UNLABELLED, ConformanceCase, ModelConfig, ModelSpec, hookimpl, lazy


@dataclass
class GPTConfig(ModelConfig):
    name: str = "gpt"
    # a size (tiny | mini | small: trained from scratch) or a checkpoint directory: a keras-hub
    # preset, a Hugging Face GPT-2 folder, or a finished gpt run (fine-tunes with its tokenizer)
    preset: str = "tiny"
    pretrained: bool = True  # false: the checkpoint's architecture with random weights
    sequence_length: int = 128  # tokens per training block (the context the model learns)
    vocabulary_size: int = 8000  # byte-level BPE fitted on the training split (sizes only)
    dropout: float = 0.1
    # overrides of the size's architecture (0: the size's value)
    num_layers: int = 0
    num_heads: int = 0
    hidden_dim: int = 0
    intermediate_dim: int = 0


@hookimpl
def zoo_models() -> list[ModelSpec]:
    return [
        ModelSpec("gpt", lazy("zoo_plugins.gpt.model:build_causal_lm"),
                  "GPT-2 causal language model on your text; generates text (zoo generate)",
                  GPTConfig, tasks=(UNLABELLED,), modalities=("text",),
                  task=lazy("zoo_plugins.gpt.task:CausalLMTask"),
                  # bundles generate through the ONNX decoding loop (zoo generate bundle=...)
                  conformance=ConformanceCase(
                      ("model.sequence_length=16", "model.vocabulary_size=300", "model.num_layers=1",
                       "model.num_heads=2", "model.hidden_dim=16", "model.intermediate_dim=32"),
                      data=lazy("zoo.testing.data:unlabelled_text"), formats=("onnx",))),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.gpt.conf"]
