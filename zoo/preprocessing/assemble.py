"""The saved model: the fitted preprocessor in front of a family's network, raw inputs in.

Training fits the network on preprocessed batches (the preprocessor runs once, in tf.data, before
the cache); `model.keras`, evaluation of a reloaded run and every export use `assemble`'s model,
so what a bundle computes from a raw example is what training computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.data.features import is_table
from zoo.preprocessing.fit import PREPROCESSOR, raw_inputs

PREPROCESSOR_FILE = "preprocessor.keras"
NETWORK = "network"


def assemble(preprocessor: Any, network: Any, features: list[dict[str, Any]]) -> Any:
    """`Model(raw inputs -> network(preprocessor(raw)))`, named after the network."""
    import keras

    raw = raw_inputs(features)
    outputs = network(preprocessor(raw))
    return keras.Model(raw, outputs, name=f"{network.name}_with_preprocessing")


def load_final_weights(network: Any, path: Path, preprocessor: Any, features: Any) -> None:
    """Load `model.keras`'s weights into `network` (rebuilt by its plugin): through the assembled
    model when the run saved one (its preprocessor reloaded from the run folder)."""
    target = network if preprocessor is None else assemble(preprocessor, network, features)
    target.load_weights(path)


def parts(model: Any) -> tuple[Any, Any]:
    """The (preprocessor, network) of an assembled model."""
    inner = [layer for layer in model.layers if hasattr(layer, "layers")]
    preprocessor = next(layer for layer in inner if layer.name == PREPROCESSOR)
    network = next(layer for layer in inner if layer.name != PREPROCESSOR)
    return preprocessor, network


def is_assembled(model: Any) -> bool:
    return any(layer.name == PREPROCESSOR for layer in getattr(model, "layers", []))


def preprocess(dataset: Any, preprocessor: Any, features: list[dict[str, Any]],
               batches: Any = None, regression: bool = False) -> Any:
    """`(raw, label, ...)` -> `(preprocessed, label, ...)`: in batches where raw examples have one
    shape, one by one where their size varies (images of any size). `batches`, the same rows as
    batches (a streaming source's record batches), are preprocessed as they come: a table of many
    columns costs tf.data a step per column and row when unbatched and batched again.
    `regression`: each label becomes shape (1,) here, a batch at a time (a map per row costs more
    than the training step)."""
    import tensorflow as tf

    def label_shape(rest: tuple, shape: tuple) -> tuple:
        return (tf.reshape(tf.cast(rest[0], tf.float32), shape), *rest[1:]) if regression and rest else rest

    def batched(x: Any, *rest: Any) -> tuple:
        return (preprocessor(x, training=False), *label_shape(rest, (-1, 1)))

    def single(x: Any, *rest: Any) -> tuple:
        return (preprocessor(x[None], training=False)[0], *label_shape(rest, (1,)))

    variable = not is_table(features) and any(d is None for d in features[0]["shape"])
    if variable:
        return dataset.map(single, num_parallel_calls=tf.data.AUTOTUNE)
    count = dataset.cardinality()
    source = dataset.batch(1024) if batches is None else batches
    mapped = source.map(batched, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return mapped.apply(tf.data.experimental.assert_cardinality(count)) if count >= 0 else mapped


def save_preprocessor(preprocessor: Any, run_path: Path) -> None:
    """`RUN/preprocessor.keras`, written atomically (read back when the run resumes or is reloaded)."""
    tmp = run_path / f"tmp-{PREPROCESSOR_FILE}"
    preprocessor.save(tmp)
    tmp.replace(run_path / PREPROCESSOR_FILE)


def load_preprocessor(run_path: Path) -> Any:
    import keras

    from zoo.core.errors import RunDirError

    path = run_path / PREPROCESSOR_FILE
    if not path.exists():
        raise RunDirError(f"{path} is missing: the run's preprocessing was not saved; train it again")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - zipfile, h5py and Keras errors alike
        raise RunDirError(f"{path} is corrupt or truncated ({type(exc).__name__}): the fitted preprocessing "
                          "cannot be rebuilt from the checkpoints; train the run again") from None
