"""Export of generative families: a GAN's generator and a VAE's encoder and decoder, each checked
against the Keras networks the run saved, and `zoo predict` drawing samples without TensorFlow."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_zoo
from PIL import Image

from zoo.core.errors import ZooError
from zoo.export.exporter import export
from zoo.runtime.bundle import BundleError, load_bundle

DIGITS_RANGE = (0.0, 16.0)  # scikit-learn digits: grey levels 0..16


@pytest.fixture(scope="module")
def cgan_run(conformance):
    """The conformance kit's class-conditional DCGAN on digits, two steps (export checks need
    weights, not quality); it passed every format there, here the bundle's details."""
    return conformance("dcgan").run_dir


@pytest.fixture(scope="module")
def vae_run(conformance):
    """The conformance kit's convolutional VAE on digits (latent 8), two steps."""
    return conformance("vae").run_dir


def saved_network(run, name):
    """A network the run saved itself (generator.keras, encoder.keras...), for an independent reference."""
    import keras

    return keras.saving.load_model(run / f"{name}.keras", compile=False)


def test_conditional_generator_exports_to_onnx_with_samples_in_the_data_range(cgan_run):
    import onnxruntime as ort

    meta = export(cgan_run, format="onnx")
    check = meta["verification"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 * 16 and check["examples"] == 512
    assert meta["part"] == "generator" and meta["input_kind"] == "latent"
    assert meta["name"] == "dcgan_digits_generator"
    assert meta["inputs"] == [{"name": "latent", "shape": [None, 32], "dtype": "float32"},
                              {"name": "label", "shape": [None], "dtype": "int32"}]
    assert meta["outputs"]["range"] == list(DIGITS_RANGE) and meta["outputs"]["conditional"] is True
    generator = saved_network(cgan_run, "generator")
    session = ort.InferenceSession(f"{meta['bundle']}/model.onnx")
    rng = np.random.default_rng(5)
    for batch in (1, 7):
        z = rng.normal(size=(batch, 32)).astype(np.float32)
        labels = (np.arange(batch) % 10).astype(np.int32)
        got = session.run(None, {"latent": z, "label": labels})[0]
        expected = np.asarray(generator([z, labels], training=False)) * 8.0 + 8.0  # tanh -> 0..16
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert got.shape == (batch, 8, 8, 1) and DIGITS_RANGE[0] <= got.min() and got.max() <= DIGITS_RANGE[1]


def test_predict_draws_samples_as_pngs_and_takes_latent_csv_without_tensorflow(cgan_run, tmp_path):
    bundle = cgan_run / "export" / "onnx"
    export(cgan_run, format="onnx")
    with (tmp_path / "latents.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", *(f"z{i}" for i in range(32))])
        z = np.random.default_rng(3).normal(size=(4, 32)).astype(np.float32)
        for label, row in zip(["7", "7", "3", "0"], z, strict=True):
            writer.writerow([label, *row.tolist()])
    code = ("import sys; from zoo.cli.main import main; "
            f"assert main(['predict', 'bundle={bundle}', 'input=12', 'output={tmp_path / 'pngs'}']) == 0; "
            f"assert main(['predict', 'bundle={bundle}', 'input={tmp_path / 'latents.csv'}', "
            f"'output={tmp_path / 'samples.json'}']) == 0; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pngs = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert len(pngs) == 12 and pngs[:2] == ["01_0.png", "02_1.png"] and pngs[-1] == "12_1.png"
    assert np.asarray(Image.open(tmp_path / "pngs" / pngs[0])).shape == (8, 8)
    records = json.loads((tmp_path / "samples.json").read_text())
    assert [r["label"] for r in records] == ["7", "7", "3", "0"]
    generator = saved_network(cgan_run, "generator")
    expected = np.asarray(generator([z, np.array([7, 7, 3, 0], np.int32)], training=False)) * 8.0 + 8.0
    np.testing.assert_allclose(np.array([r["sample"] for r in records]), expected, atol=1e-4)


def test_bad_latent_inputs_are_named(cgan_run, tmp_path):
    export(cgan_run, format="onnx")
    bundle = cgan_run / "export" / "onnx"
    (tmp_path / "nolabel.csv").write_text("\n".join(",".join(["0.5"] * 32) for _ in range(2)) + "\n")
    (tmp_path / "short.csv").write_text("label,z0,z1\n3,0.1,0.2\n")
    for source, message in [("zero", "give a number of samples to draw or a CSV file of 32-dimensional"),
                            (str(tmp_path / "nolabel.csv"), "add a header with a 'label' column"),
                            (str(tmp_path / "short.csv"), "has 2 latent columns, the model takes 32")]:
        proc = run_zoo("predict", f"bundle={bundle}", f"input={source}", f"output={tmp_path / 'x.csv'}")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_vae_exports_encoder_and_decoder_as_two_checked_bundles(vae_run):
    result = export(vae_run, format="onnx")
    assert set(result["parts"]) == {"encoder", "decoder"}
    encoder, decoder = (load_bundle(vae_run / "export" / "onnx" / part) for part in ("encoder", "decoder"))
    for bundle in (encoder, decoder):
        assert bundle.meta["verification"]["passed"] and bundle.meta["verification"]["max_abs_diff"] <= 1e-3
    assert encoder.name == "vae_digits_encoder"
    assert encoder.meta["outputs"]["names"] == ["z_mean", "z_log_var"]
    assert decoder.inputs == [{"name": "latent", "shape": [None, 8], "dtype": "float32"}]
    from sklearn import datasets

    images = datasets.load_digits().images[:9, :, :, None].astype(np.float32)  # grey levels 0..16
    z_mean, z_log_var = (np.asarray(t) for t in saved_network(vae_run, "encoder")(images / 16.0))
    got = encoder.outputs([images])
    np.testing.assert_allclose(got["z_mean"], z_mean, atol=1e-4)
    np.testing.assert_allclose(got["z_log_var"], z_log_var, atol=1e-4)
    reconstruction = decoder.predict([got["z_mean"]])
    expected = np.asarray(saved_network(vae_run, "decoder")(z_mean)) * 16.0
    np.testing.assert_allclose(reconstruction, expected, atol=1e-3)
    assert reconstruction.shape == images.shape
    with pytest.raises(BundleError, match="holds one bundle per part .decoder, encoder.: pass"):
        load_bundle(vae_run / "export" / "onnx")


def test_vae_part_option_exports_one_part_to_tflite(vae_run, tmp_path):
    meta = export(vae_run, format="tflite", part="decoder", output=tmp_path / "decoder")
    assert meta["part"] == "decoder" and meta["verification"]["passed"]
    assert (tmp_path / "decoder" / "model.tflite").exists()
    assert not (tmp_path / "decoder" / "encoder").exists()
    with pytest.raises(ZooError, match="part='generator': this model exports encoder, decoder"):
        export(vae_run, format="onnx", part="generator", output=tmp_path / "nothing")


def test_serve_answers_with_named_encoder_outputs_and_generator_samples(cgan_run, vae_run, tmp_path):
    import http.client

    from zoo.serving.server import ModelServer, start

    export(vae_run, format="onnx", part="encoder", output=tmp_path / "encoder")
    export(cgan_run, format="onnx", output=tmp_path / "generator")
    bundles = [load_bundle(tmp_path / "encoder"), load_bundle(tmp_path / "generator")]
    server = ModelServer(bundles, "127.0.0.1", 0)
    start(server)

    def post(name, body):
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        conn.request("POST", f"/v1/models/{name}:predict", body=json.dumps(body))
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    try:
        images = np.random.default_rng(0).uniform(0, 16, (3, 8, 8, 1)).astype(np.float32)
        status, answer = post("vae_digits_encoder", {"instances": images.tolist()})
        assert status == 200 and "labels" not in answer
        expected = bundles[0].outputs([images])
        assert [set(p) for p in answer["predictions"]] == [{"z_mean", "z_log_var"}] * 3
        z_means = [p["z_mean"] for p in answer["predictions"]]
        np.testing.assert_allclose(z_means, expected["z_mean"], atol=1e-5)
        z = np.random.default_rng(1).normal(size=(2, 32)).astype(np.float32)
        instances = [{"latent": z[0].tolist(), "label": 4}, {"latent": z[1].tolist(), "label": 9}]
        status, answer = post("dcgan_digits_generator", {"instances": instances})
        assert status == 200 and "labels" not in answer
        expected = bundles[1].predict([z, np.array([4, 9])])
        np.testing.assert_allclose(answer["predictions"], expected, atol=1e-5)
        status, answer = post("dcgan_digits_generator", {"instances": [z[0].tolist()]})
        assert status == 400 and "each instance must be an object with latent, label" in answer["error"]
    finally:
        server.close()
