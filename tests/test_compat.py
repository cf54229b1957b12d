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


# --- private Keras attributes read by zoo.core.compat: each test fails when upstream changes ---

def nested_model():
    import keras

    layers = [keras.layers.Dense(4, name="inner_dense"),
              keras.layers.Dropout(0.5, seed=1, name="inner_dropout")]
    inner = keras.Sequential(layers, name="inner")
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inner(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_nested_layers_and_seed_generators_reach_inside_nested_models():
    from zoo.core.compat import nested_layers, seed_generators

    model = nested_model()
    assert {"inner", "inner_dense", "inner_dropout", "out"} <= {layer.name for layer in nested_layers(model)}
    generators = seed_generators(model)
    assert len(generators) == 1 and generators[0].state.shape == (2,)


def test_loss_tracker_is_the_loss_that_fit_logs():
    from zoo.core.compat import loss_tracker

    model = nested_model()
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    loss_tracker(model).reset_state()
    loss_tracker(model).update_state(3.0)
    assert model.get_metrics_result()["loss"] == 3.0


def test_takes_a_dict_tells_dict_from_list_inputs():
    import keras

    from zoo.core.compat import takes_a_dict

    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    assert takes_a_dict(keras.Model({"a": a, "b": b}, out))
    assert not takes_a_dict(keras.Model([a, b], out))


def test_build_symbolically_builds_everything_before_the_first_batch():
    import keras

    from zoo.core.compat import build_symbolically

    model = nested_model()
    batch = (keras.KerasTensor((None, 3), "float32"), keras.KerasTensor((None, 2), "float32"), None)
    build_symbolically(model, batch)
    assert model.built and model.optimizer.built and model.compiled_loss is not None
    history = model.fit(np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_tflite_output_names_map_each_named_output_to_its_tensor(tmp_path):
    import keras
    import tensorflow as tf

    from zoo.core.compat import tflite_output_names

    inputs = keras.Input((3,), name="x")
    outputs = {"first": keras.layers.Dense(1)(inputs), "second": keras.layers.Dense(2)(inputs)}
    model = keras.Model(inputs, outputs)
    spec = tf.TensorSpec((None, 3), tf.float32, name="x")
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    names = tflite_output_names(interpreter)
    assert set(names) == {"first", "second"}
    interpreter.allocate_tensors()
    shapes = {name: interpreter.get_tensor(index).shape[-1] for name, index in names.items()}
    assert shapes == {"first": 1, "second": 2}


def classifier(name):
    """A softmax classifier with a `logits` layer: a distiller's teacher or student."""
    import keras

    inputs = keras.Input((3,), name="x")
    logits = keras.layers.Dense(2, name="logits")(inputs)
    probabilities = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, probabilities, name=name)


def test_distiller_student_features_give_the_student_output_in_one_pass():

    from zoo.core.compat import distiller_student_features
    from zoo.training.distiller import SoftmaxDistiller

    distiller = SoftmaxDistiller(classifier("teacher"), classifier("student"), temperature=2.0, alpha=0.5)
    x = np.ones((4, 3), np.float32)
    features = distiller_student_features(distiller, x, training=False)
    expected = np.asarray(distiller.student(x))
    np.testing.assert_allclose(np.asarray(features["final_output"]), expected, atol=1e-6)


def test_one_student_pass_answers_the_hook_keras_distiller_loss_calls():
    """Keras's `Distiller.compute_loss` still takes the student's features from the private
    `_extract_all_student_features` (`OneStudentPass` answers it): a second student pass otherwise."""

    from zoo.training.distiller import SoftmaxDistiller

    distiller = SoftmaxDistiller(classifier("teacher"), classifier("student"), temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    calls = []
    answer = distiller.student_features
    distiller.student_features = lambda x, y_pred: calls.append(1) or answer(x, y_pred)
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    loss = distiller.compute_loss(x=x, y=y, y_pred=distiller(x, training=False), training=False)
    assert calls == [1] and np.isfinite(float(loss))


def test_bounded_http_protocol_overrides_uvicorn_hooks_that_exist_and_uvicorn_still_lacks_the_timeout():
    """encode/uvicorn issue 157: when `uvicorn.Config` gets a request-start timeout, use it instead."""
    import inspect

    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from zoo.core.compat import bounded_http_protocol

    options = set(inspect.signature(uvicorn.Config).parameters)
    assert not {o for o in options if "request_start" in o or "header" in o and "timeout" in o}, options
    from zoo.core.compat import HeaderBounds

    assert bounded_http_protocol().__mro__[1:3] == (HeaderBounds, HttpToolsProtocol)
    hooks = {name for name in vars(HeaderBounds) if not name.startswith("_")}
    assert hooks == {"connection_made", "data_received", "on_url", "on_header", "on_headers_complete",
                     "send_400_response", "connection_lost"}
    assert all(callable(getattr(HttpToolsProtocol, name, None)) for name in hooks)
    source = inspect.getsource(HttpToolsProtocol)
    assert "self.cycle" in source and "response_complete" in source and "self.transport" in source


def test_draining_server_calls_back_when_uvicorn_shutdown_begins():
    import threading
    import time

    import uvicorn

    from zoo.core.compat import draining_server

    async def app(scope, receive, send):  # never called: nothing connects
        raise AssertionError(scope)

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    began = []
    server = draining_server(config, lambda: began.append(server.started))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive() and began == [True]


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

    from zoo.core.compat import WeightsLayout

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


def test_hydra_mode_unset_answers_what_hydra_get_mode_composes_for_a_config_without_a_mode():
    """`Hydra.get_mode` still has the signature the patch replaces, and for the configs that
    `zoo.cli.hydra_apps.mode_is_default` lets skip it, composing gives the same answer (None);
    where a config sets the mode (the Optuna sweep's `hydra.mode: MULTIRUN`), the guard leaves the
    answer to Hydra."""
    import inspect

    from hydra import compose, initialize_config_module
    from hydra._internal.hydra import Hydra

    from zoo.cli.hydra_apps import composing_once, mode_is_default
    from zoo.config.compose import CONFIG_MODULE, prepare_hydra
    from zoo.core.compat import hydra_mode_unset

    def mode_of(args):
        prepare_hydra()
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose("train", overrides=args, return_hydra_config=True).hydra.mode

    assert list(inspect.signature(Hydra.get_mode).parameters) == ["self", "config_name", "overrides"]
    original = Hydra.get_mode
    for args in (["model=mlp", "dataset=iris"], ["experiment=mlp_iris", "trainer.epochs=2"]):
        assert mode_is_default(args)
        with hydra_mode_unset():
            assert Hydra.get_mode(None, "train", args) is None
        assert Hydra.get_mode is original
        assert mode_of(args) is None  # what get_mode would have read
    sweep = ["experiment=mlp_iris", "hparams_search=mlp_optuna"]
    assert not mode_is_default(sweep)
    with composing_once(sweep):
        assert Hydra.get_mode is original  # Hydra composes and reads MULTIRUN itself


def test_decoder_parts_are_the_layers_keras_hub_s_decoder_calls():
    """Each part `decoder_parts` reads is a sublayer the decoder really uses: zeroing the part's
    kernel changes the layer's output (a renamed attribute fails with its name)."""
    import keras
    import keras_hub

    from zoo.core.compat import decoder_parts

    layer = keras_hub.layers.TransformerDecoder(intermediate_dim=8, num_heads=2)
    x = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    before = np.asarray(layer(x))
    parts = decoder_parts(layer)
    for name in ("query", "key", "value", "output", "feedforward_in", "feedforward_out"):
        part = getattr(parts, name)
        kept = part.kernel.numpy()
        part.kernel.assign(np.zeros_like(kept))
        assert not np.allclose(np.asarray(layer(x)), before), name
        part.kernel.assign(kept)
    for name in ("attention_norm", "feedforward_norm"):
        assert isinstance(getattr(parts, name), keras.layers.LayerNormalization), name
    np.testing.assert_array_equal(np.asarray(layer(x)), before)


def test_multi_worker_cpu_devices_give_a_worker_one_replica_per_logical_cpu():
    import tensorflow as tf

    from zoo.core.compat import multi_worker_cpu_devices

    assert len(tf.config.list_logical_devices("CPU")) >= 2  # conftest splits the CPU
    assert tf.distribute.MultiWorkerMirroredStrategy().num_replicas_in_sync == 1, \
        "fixed upstream: zoo.core.compat.multi_worker_cpu_devices can go"
    with multi_worker_cpu_devices(2):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2 and len(strategy.extended.worker_devices) == 2
    assert tf.distribute.MultiWorkerMirroredStrategy().num_replicas_in_sync == 1  # only inside


def test_set_distributed_steps_is_what_keras_counts_as_the_steps_of_an_epoch():
    import tensorflow as tf
    from keras.src.trainers.data_adapters.tf_dataset_adapter import TFDatasetAdapter

    from zoo.core.compat import set_distributed_steps

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    distributed = strategy.distribute_datasets_from_function(lambda _: tf.data.Dataset.range(12).batch(2))
    assert TFDatasetAdapter(distributed).num_batches == 6  # a worker's elements: 3 steps of 2 replicas
    set_distributed_steps(distributed, 3)
    assert TFDatasetAdapter(distributed).num_batches == 3
