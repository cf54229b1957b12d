"""Each work-around in `zoo.compat` is still needed, and still works (fails when upstream changes)."""

from __future__ import annotations

import numpy as np


def normalized_model():
    import keras

    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(0).normal(3, 2, (64, 3)).astype(np.float32))
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(norm(inputs)))


def onnx_inputs(model):
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, 3), tf.float32, name="x")]
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    return proto, [i.name for i in proto.graph.input]


def test_adapted_normalization_still_leaks_graph_inputs_into_onnx_without_the_freeze():
    _, names = onnx_inputs(normalized_model())
    assert len(names) > 1, "fixed upstream: zoo.compat.freeze_normalization can go"


def test_frozen_normalization_converts_to_one_input_and_matches_keras():
    import onnxruntime as ort

    from zoo.compat import freeze_normalization

    model = normalized_model()
    x = np.random.default_rng(1).normal(3, 2, (5, 3)).astype(np.float32)
    before = np.asarray(model(x))
    freeze_normalization(model)
    np.testing.assert_array_equal(np.asarray(model(x)), before)
    proto, names = onnx_inputs(model)
    assert names == ["x"]
    got = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, before, atol=1e-5)


def h5_contents(path) -> dict:
    import h5py

    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.__setitem__(
            name, (obj[()] if isinstance(obj, h5py.Dataset) else None, dict(obj.attrs))))
    return found


def test_weights_layout_writes_what_save_weights_writes_from_a_snapshot(tmp_path):
    """If Keras's `_save_state`/`H5IOStore` change, async checkpoints must be rewritten."""
    import keras

    from zoo.compat import WeightsLayout

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    layout = WeightsLayout(model)
    snapshot = layout.snapshot()
    model.save_weights(tmp_path / "keras.weights.h5")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # weights and optimizer move on
    layout.write(tmp_path / "zoo.weights.h5", snapshot)
    expected, written = h5_contents(tmp_path / "keras.weights.h5"), h5_contents(tmp_path / "zoo.weights.h5")
    assert written.keys() == expected.keys() and any(k.startswith("optimizer/") for k in written)
    for name, (value, attrs) in expected.items():
        assert written[name][1] == attrs, name
        if value is not None:
            np.testing.assert_array_equal(written[name][0], value, err_msg=name)
    layout.write(tmp_path / "now.weights.h5", layout.snapshot())
    now = h5_contents(tmp_path / "now.weights.h5")
    assert not np.array_equal(now["optimizer/vars/0"][0], expected["optimizer/vars/0"][0])  # iterations
