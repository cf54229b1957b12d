"""The CNN family: convolution blocks (plain or residual) for grey or colour images."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import ConformanceCase, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class CNNConfig(ModelConfig):
    name: str = "cnn"
    filters: list[int] = bounded(default_factory=lambda: [32, 64], ge=1)  # one block per entry
    kernel_size: int = bounded(3, ge=1)
    convs_per_block: int = bounded(1, ge=1)  # residual blocks always hold two
    pooling: str = "max"  # max | avg | none (pooling stops once the map is smaller than 4x4)
    batch_norm: bool = True
    bn_momentum: float = bounded(0.9, ge=0, le=1)  # lower than Keras's 0.99: small datasets have few steps
    dropout: float = bounded(0.25, ge=0, lt=1)  # after each block
    residual: bool = False  # ResNet-style blocks with a projection shortcut
    stem_stride: int = bounded(1, ge=1)  # stride of the first convolution (2 or 4 for large images)
    dense_units: int = bounded(128, ge=0)  # 0: no hidden dense layer before the head
    head_dropout: float = bounded(0.25, ge=0, lt=1)
    activation: str = "relu"


# digits (the default dataset), the smallest network
CONFORMANCE = ConformanceCase(("model.filters=[4]", "model.dense_units=8"))


@hookimpl
def zoo_models() -> list[ModelSpec]:
    return [
        ModelSpec("cnn", lazy("zoo_plugins.cnn.model:build_cnn"),
                  "convolutional network: conv blocks (filters, kernel, pooling, dropout, batch norm)",
                  CNNConfig, modalities=("image",), conformance=CONFORMANCE),
        ModelSpec("resnet", lazy("zoo_plugins.cnn.model:build_cnn"),
                  "small residual CNN: two-conv blocks with projection shortcuts", CNNConfig,
                  modalities=("image",), conformance=CONFORMANCE),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.cnn.conf"]
