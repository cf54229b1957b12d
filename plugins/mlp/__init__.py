"""The MLP family: dense networks for tabular data (or flattened images)."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import ConformanceCase, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class MLPConfig(ModelConfig):
    name: str = "mlp"
    hidden_sizes: list[int] = bounded(default_factory=lambda: [128, 64], ge=1)
    activation: str = "relu"
    dropout: float = bounded(0.0, ge=0, lt=1)
    batch_norm: bool = False


@hookimpl
def zoo_models() -> list[ModelSpec]:
    return [
        ModelSpec("mlp", lazy("zoo_plugins.mlp.model:build_mlp"),
                  "multi-layer perceptron: hidden sizes, activation, dropout, batch norm", MLPConfig,
                  modalities=("tabular", "image", "sequence"),
                  conformance=ConformanceCase(("dataset=iris", "model.hidden_sizes=[8]"))),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.mlp.conf"]
