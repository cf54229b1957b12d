"""Each work-around in `zoo.core.compat` is still needed, and still works (fails when upstream changes)."""

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
    assert len(names) > 1, "fixed upstream: zoo.core.compat.freeze_normalization can go"


def test_frozen_normalization_converts_to_one_input_and_matches_keras():
    import onnxruntime as ort

    from zoo.core.compat import freeze_normalization

    model = normalized_model()
    x = np.random.default_rng(1).normal(3, 2, (5, 3)).astype(np.float32)
    before = np.asarray(model(x))
    freeze_normalization(model)
    np.testing.assert_array_equal(np.asarray(model(x)), before)
    proto, names = onnx_inputs(model)
    assert names == ["x"]
    got = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, before, atol=1e-5)
