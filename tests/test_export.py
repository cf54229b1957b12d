"""`zoo export` and `zoo predict`: every format runs and matches the Keras model it came from.

One small CNN is trained once on real handwritten digits stored as PNG files, one MLP on iris.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_zoo, run_zoo_on_a_terminal
from PIL import Image
from sklearn import datasets

import zoo
from zoo.evaluation.evaluate import load_run
from zoo.export.convert import ExportError
from zoo.export.exporter import export
from zoo.serving.predict import predict

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")


def write_digit_pngs(root, images, labels):
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i:04d}.png")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A CNN trained on 1500 digit PNGs; the other 297 are kept unseen for `zoo predict`."""
    root = tmp_path_factory.mktemp("digits")
    data = datasets.load_digits()
    write_digit_pngs(root / "train", data.images[:1500], data.target[:1500])
    write_digit_pngs(root / "unseen", data.images[1500:], data.target[1500:])
    cfg = zoo.compose(["experiment=cnn_image_folder", f"dataset.path={root / 'train'}",
                       "dataset.image_size=[8,8]", "dataset.color_mode=grayscale",
                       "model.filters=[16,32]", "trainer.epochs=6", "trainer.learning_rate=5e-3", *QUICK])
    result = zoo.train(cfg, root / "run")
    assert result.metrics["test"]["accuracy"] > 0.5  # chance is 0.1
    return root


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("iris") / "run"
    zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.epochs=40", *QUICK]), run)
    return run


@functools.cache
def saved_model(run_dir):
    _, _, parts, splits, network = load_run(run_dir, "final")
    return parts.export.saved_model(network, splits)


def keras_outputs(run_dir, inputs):
    """The saved Keras model (preprocessor + network) on raw inputs."""
    return np.asarray(saved_model(run_dir)(inputs, training=False))


def test_onnx_bundle_matches_keras_at_any_batch_size_and_describes_itself(digits_run):
    import onnxruntime as ort

    meta = export(digits_run / "run", format="onnx")
    bundle = digits_run / "run" / "export" / "onnx"
    check = json.loads((bundle / "export.json").read_text())["verification"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and check["examples"] >= 100
    assert check["keras"] > 0.5 and check["exported"] == pytest.approx(check["keras"])
    assert meta["inputs"] == [{"name": "image", "shape": [None, None, None, 1], "dtype": "uint8",
                               "kind": "tensor", "resize": [8, 8]}]  # raw images of any size
    info = json.loads((bundle / "dataset.json").read_text())
    assert info["class_names"] == [str(i) for i in range(10)] and info["scaling"] is None
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "test accuracy" in card and "max |keras - exported|" in card and (bundle / "config.yaml").exists()
    session = ort.InferenceSession(str(bundle / "model.onnx"))
    rng = np.random.default_rng(0)
    for shape in ((1, 8, 8, 1), (7, 8, 8, 1), (3, 13, 11, 1), (2, 40, 32, 1)):
        raw = rng.integers(0, 256, shape).astype(np.uint8)
        got = session.run(None, {"image": raw})[0]
        np.testing.assert_allclose(got, keras_outputs(digits_run / "run", raw), atol=1e-5)


@pytest.mark.parametrize("quantize", ["float16", "dynamic", "int8"])  # none: test_conformance
def test_tflite_exports_report_their_difference_and_metric_change(digits_run, quantize):
    import tensorflow as tf

    meta = export(digits_run / "run", format="tflite", quantize=quantize, max_metric_drop=0.1)
    check = meta["verification"]
    assert check["passed"] and abs(check["change"]) <= 0.1
    assert check["max_abs_diff"] <= 0.2 and check["quantized"]
    interpreter = tf.lite.Interpreter(model_path=str(f"{meta['bundle']}/model.tflite"))
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert (np.int8 in dtypes) == (quantize in ("dynamic", "int8"))
    assert (np.float16 in dtypes) == (quantize == "float16")


def test_keras_int8_weight_quantization_reports_the_metric_change(digits_run):
    meta = export(digits_run / "run", format="keras", quantize="int8")
    check = meta["verification"]
    assert check["passed"] and check["metric"] == "accuracy" and abs(check["change"]) <= 0.05
    assert 0 < check["max_abs_diff"] < 0.2  # the weights really changed
    assert (digits_run / "run" / "export" / "keras_int8" / "model.keras").exists()


def test_a_quantized_export_that_loses_too_much_accuracy_is_refused(digits_run):
    with pytest.raises(ExportError, match="max_metric_drop") as refused:
        export(digits_run / "run", format="tflite", quantize="dynamic", max_metric_drop=-1.0,
               output=digits_run / "refused")
    assert "nothing was written" in str(refused.value)
    assert not (digits_run / "refused").exists()  # no bundle without a passed check
    assert not [p for p in digits_run.iterdir() if p.name.startswith(".refused")]  # no staging left


def test_cli_export_with_an_opset_and_bad_options(digits_run, tmp_path):
    import onnx

    proc = run_zoo("export", f"run_dir={digits_run / 'run'}", "format=onnx", "opset=13", f"output={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "max |keras - exported|" in proc.stdout
    assert "\r" not in proc.stdout + proc.stderr and "\x1b" not in proc.stdout + proc.stderr
    assert "check onnx: exported outputs: done" in proc.stdout, proc.stdout
    assert onnx.load(str(tmp_path / "model.onnx")).opset_import[0].version == 13
    for args, message in [(("format=pt",), "format=pt: expected one of onnx"),
                          (("format=onnx", "quantize=int8"),
                           "quantises a language model's cached decoder only"),
                          (("fromat=onnx",), "did you mean 'format'"),
                          ((), "missing required value(s) run_dir")]:
        run_dir = () if message.startswith("missing") else (f"run_dir={digits_run / 'run'}",)
        proc = run_zoo("export", *run_dir, *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0


def test_predict_on_unseen_images_without_tensorflow(digits_run):
    export(digits_run / "run", format="onnx")
    out = digits_run / "predictions.csv"
    code = ("import sys; from zoo.cli.main import main; "
            f"rc = main(['predict', 'bundle={digits_run / 'run' / 'export' / 'onnx'}', "
            f"'input={digits_run / 'unseen'}', 'output={out}']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stdout + proc.stderr and "\x1b" not in proc.stdout + proc.stderr
    assert re.search(r"^predict: 297 inputs$", proc.stdout, re.MULTILINE), proc.stdout
    assert re.search(r"^predict: done, 297 inputs in \d+s$", proc.stdout, re.MULTILINE), proc.stdout
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 297 and set(rows[0]) == {"input", "label", *(f"p_{i}" for i in range(10))}
    truth = [row["input"].split("/")[0] for row in rows]
    accuracy = np.mean([row["label"] == t for row, t in zip(rows, truth, strict=True)])
    assert accuracy > 0.5  # chance is 0.1
    raw = np.stack([np.asarray(Image.open(digits_run / "unseen" / r["input"]))[..., None] for r in rows])
    expected = keras_outputs(digits_run / "run", raw)
    got = np.array([[float(row[f"p_{i}"]) for i in range(10)] for row in rows])
    np.testing.assert_allclose(got, expected, atol=1e-5)


CLEAR = "\r\x1b[2K"


def assert_drawn_and_wiped(screen: str, bar: str, result: str) -> None:
    """`bar` (a progress bar's label) was drawn in place, wiped, and the command's `result` line
    came after it on a line of its own."""
    assert re.search(re.escape(bar) + r" \d+(/\d+ \[[=>.]+\] (ETA )?\d+s)?", screen), screen[-3000:]
    last_bar, last_wipe = screen.rfind(bar + " "), screen.rfind(CLEAR)
    assert last_wipe > last_bar, screen[-3000:]
    after = screen[last_wipe + len(CLEAR):]
    assert result in after and bar + " " not in after, screen[-3000:]


def test_evaluate_export_and_predict_show_a_bar_on_a_terminal_and_wipe_it(digits_run, tmp_path):
    run_dir = digits_run / "run"
    code, screen = run_zoo_on_a_terminal("evaluate", f"run_dir={run_dir}", f"output={tmp_path / 'eval'}")
    assert code == 0, screen[-3000:]
    assert_drawn_and_wiped(screen, "evaluate test", "test metrics")
    code, screen = run_zoo_on_a_terminal("export", f"run_dir={run_dir}", "format=onnx",
                                         f"output={tmp_path / 'onnx'}")
    assert code == 0, screen[-3000:]
    assert_drawn_and_wiped(screen, "check onnx: keras outputs", "exported onnx")
    assert_drawn_and_wiped(screen, "check onnx: exported outputs", "exported onnx")
    code, screen = run_zoo_on_a_terminal("predict", f"bundle={tmp_path / 'onnx'}",
                                         f"input={digits_run / 'unseen'}", f"output={tmp_path / 'p.csv'}")
    assert code == 0, screen[-3000:]
    assert_drawn_and_wiped(screen, "predict", "predicted 297 input(s)")
    assert "predict 297/297 [" in screen


def test_evaluate_in_a_pipe_prints_plain_start_and_done_lines_on_stdout(digits_run, tmp_path):
    proc = run_zoo("evaluate", f"run_dir={digits_run / 'run'}", f"output={tmp_path}", env={"CI": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout + proc.stderr
    assert "\r" not in text and "\x1b" not in text, text
    assert re.search(r"^evaluate test: \d+ batches$", proc.stdout, re.MULTILINE), proc.stdout
    assert re.search(r"^evaluate test: done, \d+ batches in \d+s$", proc.stdout, re.MULTILINE), proc.stdout


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "savedmodel"])
def test_images_of_other_sizes_and_modes_get_what_keras_gives_them(digits_run, fmt):
    """Colour PNGs at 3 other sizes: the bundle decodes them grey and resizes inside, like Keras."""
    folder = digits_run / f"resized_{fmt}"
    folder.mkdir()
    files = sorted((digits_run / "unseen").rglob("*.png"))[:12]
    for i, file in enumerate(files):
        size = [(16, 16), (13, 9), (31, 24)][i % 3]
        Image.open(file).convert("RGB").resize(size, Image.NEAREST).save(folder / f"{i:02d}.png")
    meta = export(digits_run / "run", format=fmt, output=digits_run / f"bundle_{fmt}")
    out = digits_run / f"resized_{fmt}.csv"
    predict(meta["bundle"], folder, out)  # what `zoo predict` runs (the command: the tests above)
    rows = list(csv.DictReader(out.open()))
    assert [r["input"] for r in rows] == [f"{i:02d}.png" for i in range(12)]
    for row in rows:
        grey = np.asarray(Image.open(folder / row["input"]).convert("L"))[None, ..., None]
        expected = keras_outputs(digits_run / "run", grey)[0]
        got = np.array([float(row[f"p_{i}"]) for i in range(10)])
        np.testing.assert_allclose(got, expected, atol=1e-4 if fmt == "tflite" else 1e-5)


def test_predict_csv_rows_to_json_with_an_iris_bundle(iris_run, tmp_path):
    export(iris_run, format="onnx", output=tmp_path / "bundle")
    iris = datasets.load_iris()
    names = json.loads((tmp_path / "bundle" / "dataset.json").read_text())["feature_names"]
    with (tmp_path / "rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["species", *reversed(names)])  # columns found by name, in any order
        for row, label in zip(iris.data, iris.target, strict=True):
            writer.writerow([label, *reversed(row.tolist())])
    proc = run_zoo("predict", f"bundle={tmp_path / 'bundle'}", f"input={tmp_path / 'rows.csv'}",
                   f"output={tmp_path / 'out.json'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.loads((tmp_path / "out.json").read_text())
    assert len(records) == 150 and records[0]["input"] == "1"
    classes = json.loads((tmp_path / "bundle" / "dataset.json").read_text())["class_names"]
    accuracy = np.mean([r["label"] == classes[t] for r, t in zip(records, iris.target, strict=True)])
    assert accuracy > 0.8
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in records)
    proc = run_zoo("predict", f"bundle={tmp_path / 'bundle'}", f"input={tmp_path / 'missing.csv'}",
                   f"output={tmp_path / 'x.csv'}")
    assert proc.returncode == 2 and "missing.csv does not exist" in proc.stderr


@pytest.mark.alone  # times the liveness answers
def test_health_stays_fast_while_large_images_decode(digits_run):
    """Six 4000x4000 PNGs (unseen digits blown up: under the pixel bound, slow to decode and resize)
    are decoded and run off the event loop: `/v2/health/live` answers within 0.5 s meanwhile."""
    import base64
    import io
    import threading
    import time

    import requests

    from zoo.runtime.bundle import load_bundle
    from zoo.serving.server import ModelServer, start

    folder = digits_run / "run" / "export" / "onnx"
    if not (folder / "export.json").exists():
        export(digits_run / "run", format="onnx")
    server = ModelServer([load_bundle(folder)], port=0)
    start(server)
    host, port = server.server_address[:2]
    url, name = f"http://{host}:{port}", next(iter(server.models))
    unseen = sorted((digits_run / "unseen").glob("*/*.png"))[:6]
    bodies = []
    for path in unseen:
        buffer = io.BytesIO()
        Image.open(path).resize((4000, 4000), Image.NEAREST).save(buffer, format="PNG")
        bodies.append({"instances": [{"image": {"b64": base64.b64encode(buffer.getvalue()).decode()}}]})
    answers, live = [], []

    def ask(body):
        answers.append(requests.post(f"{url}/v1/models/{name}:predict", json=body, timeout=60))

    try:
        clients = [threading.Thread(target=ask, args=(body,)) for body in bodies]
        started = time.perf_counter()
        for client in clients:
            client.start()
        while any(client.is_alive() for client in clients):
            sent = time.perf_counter()
            assert requests.get(f"{url}/v2/health/live", timeout=10).status_code == 200
            live.append(time.perf_counter() - sent)
            time.sleep(0.02)
        busy = time.perf_counter() - started
    finally:
        server.close()
    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text[:200] for a in answers]
    assert busy > 1.0 and len(live) >= 5, (busy, live)  # the images kept the server busy a while
    assert max(live) < 0.5, (busy, sorted(live)[-3:])


def test_a_run_folder_and_bundle_of_zoo_0_1_0_evaluate_and_export_as_they_did(tmp_path):
    """Files written before they were versioned (tests/data/zoo-0.1.0, format 1): the run scores its
    recorded test metrics, and exporting it again gives a versioned bundle equal to the old one."""
    import shutil
    from pathlib import Path

    from zoo.runtime.bundle import load_bundle

    old = Path(__file__).parent / "data" / "zoo-0.1.0"
    run = tmp_path / "run"
    shutil.copytree(old / "mlp_run", run)
    recorded = json.loads((run / "metrics.json").read_text())["test"]
    assert zoo.evaluate(run)["test"]["accuracy"] == pytest.approx(recorded["accuracy"])
    meta = export(run, format="onnx", output=tmp_path / "bundle")
    assert (meta["format_version"], meta["zoo_version"]) == (1, zoo.__version__)
    x = datasets.load_iris().data.astype(np.float32)
    again, before = load_bundle(tmp_path / "bundle", trust=True), load_bundle(old / "mlp_bundle", trust=True)
    np.testing.assert_allclose(again.predict([x]), before.predict([x]), atol=1e-5)
