"""Fit the preprocessor on the training split: Keras preprocessing layers, adapted, in one model.

Tables: each numeric column is imputed (`ImputeMissing`) and standardised (`Normalization`); each
categorical column is looked up (`StringLookup`, one out-of-vocabulary bucket) or hashed (`Hashing`)
and one-hot encoded (`CategoryEncoding`); the columns are concatenated. Their values come from one
streaming pass over the training split (`zoo.data.stats`), set into the layers, not `adapt`ed.
A tensor input (a feature vector, an image, a window of a series) is resized if its size varies
(`Resizing`) and standardised per channel (`Normalization(axis=-1)`).

The lookups sit outside the `encoder` sub-model so that exports whose runtime cannot look strings up
(ONNX, TFLite) can take the encoder with category ids and do the lookup in front of it.
"""

from __future__ import annotations

from typing import Any

from zoo.data.features import CATEGORICAL, HASHED, NUMERIC, is_table
from zoo.preprocessing.layers import ImputeMissing

PREPROCESSOR, ENCODER = "preprocessor", "encoder"
BATCH = 4096


def lookup_name(feature: dict[str, Any]) -> str:
    return f"lookup_{feature['name']}"


def raw_inputs(features: list[dict[str, Any]]) -> Any:
    """Fresh `keras.Input`s of the raw features: a dict by name for a table, else one tensor."""
    import keras

    inputs = {f["name"]: keras.Input(tuple(f["shape"]), dtype=f["dtype"], name=f["name"]) for f in features}
    return inputs if is_table(features) else next(iter(inputs.values()))


def category_lookup(feature: dict[str, Any], vocabulary: list[str]) -> Any:
    """The `StringLookup` of a categorical column: `vocabulary` -> ids 1.., anything else -> 0.

    The vocabulary is given, not adapted, so Keras keeps it in the layer's config: an adapted
    vocabulary is saved as lines of a text file and a trailing `""` (a rare blank category) is
    dropped on reload, so blanks became out-of-vocabulary after `model.keras` was loaded."""
    import keras

    return keras.layers.StringLookup(num_oov_indices=1, vocabulary=list(vocabulary),
                                     name=lookup_name(feature))


def table_stats(train: Any, features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The statistics of the training split's raw table, in one streaming pass of batches."""
    from zoo.data.stats import TableStats

    stats = TableStats(features)
    for x, *_ in train.batch(BATCH):
        stats.add({name: x[name].numpy() for name in stats.columns})
    return stats.result()


def fit_table(features: list[dict[str, Any]], train: Any, scale: bool = True,
              stats: dict[str, dict[str, Any]] | None = None) -> Any:
    """The table preprocessor built with the training split's statistics (`stats`, else computed
    from `train` in one pass): `Normalization(mean=, variance=)`, `StringLookup(vocabulary=)`.
    Records each column's fill value, missing flag and categories in `features`."""
    import keras

    stats = stats or table_stats(train, features)
    ids_in, encoded, lookups = {}, [], {}
    for f in features:
        column = stats[f["name"]]
        if f["kind"] == NUMERIC:
            ids_in[f["name"]] = keras.Input((1,), dtype="float32", name=f["name"])
            f["missing"], f["fill"] = bool(column["missing"]), float(column["fill"])
            impute = ImputeMissing(f["fill"], f["missing"], name=f"impute_{f['name']}")
            x = impute(ids_in[f["name"]])
            value = x[:, :1]
            if scale:  # kept in the description too: `zoo.preprocessing.table_numpy` encodes with them
                f["mean"], f["variance"] = float(column["mean"]), float(column["variance"])
                norm = keras.layers.Normalization(mean=[f["mean"]], variance=[f["variance"]],
                                                  name=f"scale_{f['name']}")
                value = norm(value)
            parts = [value] + ([x[:, 1:]] if f["missing"] else [])
            encoded += parts
            continue
        ids_in[f["name"]] = keras.Input((1,), dtype="int64", name=f["name"])
        if f["kind"] == CATEGORICAL:
            f["categories"] = [str(v) for v in column["vocabulary"]]
            layer = category_lookup(f, f["categories"])
            tokens = layer.vocabulary_size()
        elif f["kind"] == HASHED:
            layer = keras.layers.Hashing(num_bins=int(f["bins"]), name=lookup_name(f))
            tokens = int(f["bins"])
        else:
            raise ValueError(f"unknown feature kind {f['kind']!r}")
        lookups[f["name"]] = layer
        encoded.append(keras.layers.CategoryEncoding(tokens, output_mode="one_hot",
                                                     name=f"onehot_{f['name']}")(ids_in[f["name"]]))
    joined = encoded[0] if len(encoded) == 1 else keras.layers.Concatenate(name="columns")(encoded)
    encoder = keras.Model(ids_in, joined, name=ENCODER)
    raw = raw_inputs(features)
    ids = {name: lookups[name](x) if name in lookups else x for name, x in raw.items()}
    return keras.Model(raw, encoder(ids), name=PREPROCESSOR)


def fit_tensor(feature: dict[str, Any], train: Any, scale: bool = True) -> Any:
    """The adapted preprocessor of one tensor input: cast, resize (variable size), standardise."""
    import keras

    raw = raw_inputs([feature])
    x = keras.ops.cast(raw, "float32") if feature["dtype"] != "float32" else raw
    resize = None
    if feature.get("resize"):
        height, width = feature["resize"]
        resize = keras.layers.Resizing(height, width, interpolation="bilinear", name="resize")
        x = resize(x)
    if not scale:
        return keras.Model(raw, keras.layers.Identity(name="scale")(x), name=PREPROCESSOR)
    norm = keras.layers.Normalization(axis=-1, name="scale")
    if resize is not None:  # images of any size: resized one by one, then batched
        import tensorflow as tf

        adapt_data = train.map(lambda image, *_: resize(tf.cast(image[None], tf.float32))[0]).batch(256)
    else:  # one shape: batched first, so the feature selection runs once a batch, not an example
        adapt_data = train.batch(BATCH).map(lambda features, *_: features)
    norm.adapt(adapt_data)
    return keras.Model(raw, norm(x), name=PREPROCESSOR)


def fit_preprocessor(features: list[dict[str, Any]], train: Any, scale: bool = True,
                     stats: dict[str, dict[str, Any]] | None = None) -> Any:
    """The preprocessor of `features`, fitted on the training split (raw inputs -> float32), or on
    a table's `stats` when its source computed them while streaming; `scale=False`
    (`dataset.normalize=false`) leaves numbers unstandardised."""
    if is_table(features):
        return fit_table(features, train, scale, stats)
    if len(features) != 1:
        raise ValueError("a preprocessor takes one tensor input or named table columns")
    return fit_tensor(features[0], train, scale)
