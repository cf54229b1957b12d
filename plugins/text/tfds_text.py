"""TFDS text classification sets by name, as `(text, class id)`; fails fast offline."""

from __future__ import annotations

from typing import Any

from zoo.sdk import (
    CLASSIFICATION,
    DataError,
    DatasetInfo,
    RawSplits,
    TextFacts,
    check_known,
    count,
    import_tensorflow,
    import_tfds,
    load_splits,
    split_names,
)


def load(cfg: Any, seed: int) -> RawSplits:
    """Train/validation/test of TFDS dataset `cfg.name` (TFDS splits are fixed: no `seed`)."""
    tfds = import_tfds()
    check_known(tfds, cfg.name)
    splits = split_names(cfg)
    datasets, builder_info = load_splits(tfds, cfg, list(splits.values()))
    info = describe(tfds, cfg, builder_info)
    parse, autotune = converter(cfg), import_tensorflow().data.AUTOTUNE
    datasets = {split: dataset.map(parse, num_parallel_calls=autotune)
                for split, dataset in zip(splits, datasets, strict=True)}
    if cfg.limit:
        datasets["train"] = datasets["train"].take(int(cfg.limit))
    for split, dataset in datasets.items():
        info.num_examples[split] = count(dataset, builder_info, splits[split])
    if cfg.limit:
        info.num_examples["train"] = min(info.num_examples["train"], int(cfg.limit))
    info.extra["splits"] = splits
    return RawSplits(datasets["train"], datasets["validation"], datasets["test"], info)


def describe(tfds: Any, cfg: Any, builder_info: Any) -> DatasetInfo:
    """The DatasetInfo of a TFDS text set: its text feature(s) and its ClassLabel."""
    features = builder_info.features
    keys = [("text_key", cfg.text_key), ("label_key", cfg.label_key)]
    if cfg.text_pair_key:
        keys.append(("text_pair_key", cfg.text_pair_key))
    for setting, key in keys:
        if key not in features:
            raise DataError(f"TFDS dataset {cfg.name!r} has no feature {key!r} (features: "
                            f"{', '.join(features.keys())}): set dataset.{setting}")
    label = features[cfg.label_key]
    if not isinstance(label, tfds.features.ClassLabel):
        raise DataError(f"feature {cfg.label_key!r} of TFDS dataset {cfg.name!r} is not a class "
                        "label: text datasets here are for classification")
    return DatasetInfo(name=cfg.name, task=CLASSIFICATION, modality="text", input_shape=(),
                       num_classes=label.num_classes, class_names=list(label.names),
                       input_dtype="string",
                       text=TextFacts(pairs=bool(cfg.text_pair_key)),
                       extra={"tfds_version": str(builder_info.version)})


def converter(cfg: Any) -> Any:
    """A map function: TFDS example dict -> (text or (text, pair), int32 label)."""
    tf = import_tensorflow()
    text_key, pair_key, label_key = str(cfg.text_key), cfg.text_pair_key, str(cfg.label_key)

    def parse(example: dict[str, Any]) -> tuple[Any, Any]:
        text = example[text_key] if not pair_key else (example[text_key], example[str(pair_key)])
        return text, tf.cast(example[label_key], tf.int32)

    return parse
