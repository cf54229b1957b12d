"""CNN builder: plain or residual convolution blocks, 8x8 up to 224x224, grey or colour."""

from __future__ import annotations

from typing import Any

import keras

from zoo.sdk import DatasetInfo, ZooError, model_input, task_head

POOLING = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D, "none": None}


def _conv(x: Any, filters: int, cfg: Any, name: str, stride: int = 1, act: bool = True) -> Any:
    x = keras.layers.Conv2D(filters, cfg.kernel_size, strides=stride, padding="same",
                            use_bias=not cfg.batch_norm, name=f"{name}_conv")(x)
    if cfg.batch_norm:
        x = keras.layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"{name}_bn")(x)
    return keras.layers.Activation(cfg.activation, name=f"{name}_act")(x) if act else x


def _plain_block(x: Any, filters: int, cfg: Any, name: str) -> Any:
    for j in range(cfg.convs_per_block):
        x = _conv(x, filters, cfg, f"{name}_{j}")
    return x


def _residual_block(x: Any, filters: int, cfg: Any, name: str) -> Any:
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, padding="same", name=f"{name}_proj")(x)
    y = _conv(x, filters, cfg, f"{name}_0")
    y = _conv(y, filters, cfg, f"{name}_1", act=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation(cfg.activation, name=f"{name}_out")(y)


def build_cnn(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Blocks of `cfg.filters`, global average pooling, an optional dense layer, the head."""
    if len(info.input_shape) != 3:
        raise ZooError(f"model {cfg.name!r} needs images (height, width, channels), "
                       f"got input shape {tuple(info.input_shape)}: use model=mlp for this dataset")
    if cfg.pooling not in POOLING:
        raise ZooError(f"model.pooling={cfg.pooling!r}: expected one of {', '.join(POOLING)}")
    residual = cfg.residual or cfg.name == "resnet"
    inputs = model_input(info)
    x = _conv(inputs, cfg.filters[0], cfg, "stem", stride=cfg.stem_stride)
    for i, filters in enumerate(cfg.filters):
        block = _residual_block if residual else _plain_block
        x = block(x, filters, cfg, f"block{i}")
        pool = POOLING[cfg.pooling]
        if pool is not None and min(x.shape[1], x.shape[2]) >= 4:
            x = pool(2, name=f"block{i}_pool")(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"block{i}_dropout")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if cfg.dense_units:
        x = keras.layers.Dense(cfg.dense_units, activation=cfg.activation, name="dense")(x)
        if cfg.head_dropout > 0:
            x = keras.layers.Dropout(cfg.head_dropout, name="head_dropout")(x)
    return keras.Model(inputs, task_head(x, info), name=cfg.name)
