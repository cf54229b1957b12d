"""Raw data in, right answers out: the preprocessor is part of the model, from training to bundles.

A real table (scikit-learn's bundled raw diabetes data, written as people's files are: a text column,
a derived category with blank cells, blanks and `NA`, a target in the hundreds of thousands) trains
with the MLP; each exported bundle fed the raw CSV through `zoo predict` gives what the Keras model
gives, a blank category included (a category of its own, not an unseen one).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, load_in_a_fresh_process, run_zoo

import zoo
from zoo.evaluation.evaluate import load_run
from zoo.export.exporter import export
from zoo.serving.predict import predict

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")
FORMATS = ("onnx", "tflite", "savedmodel")


def write_diabetes_csv(path):
    script = REPO / "scripts" / "make_tabular_csv.py"
    spec = importlib.util.spec_from_file_location("make_tabular_csv", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_diabetes_csv(path)


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("diabetes")
    path = write_diabetes_csv(root / "diabetes.csv")
    cfg = zoo.compose(["model=mlp", "dataset=csv", f"dataset.path={path}", "dataset.target=cost",
                       "trainer.epochs=40", *QUICK])
    result = zoo.train(cfg, root / "run")
    return root, result


def test_a_large_valued_target_is_learnt_and_reported_in_its_own_units(diabetes_run):
    root, result = diabetes_run
    info = json.loads((root / "run" / "dataset.json").read_text())
    assert info["target"]["mean"] > 1e5 and info["target"]["std"] > 1e4
    kinds = {f["column"]: f["kind"] for f in info["features"]}
    assert kinds["sex"] == kinds["clinic"] == "categorical" and kinds["bmi"] == "numeric"
    assert {f["column"] for f in info["features"] if f.get("missing")} == {"bmi", "bp"}
    *_, splits, model = load_run(root / "run", "final")
    y = np.concatenate([np.asarray(label).reshape(-1) for _, label in splits.test.batch(256)])
    train_mean = info["target"]["mean"]
    mean_predictor = float(np.mean(np.abs(y - train_mean)))
    mae = result.metrics["test"]["mae"]
    assert mae < 0.85 * mean_predictor, (mae, mean_predictor)  # real signal, in the data's units
    assert abs(float(np.mean(y)) - train_mean) < 0.3 * info["target"]["std"]


BLANK_ROW, UNSEEN_ROW = 5, 4  # the same patient, clinic blank (a training category) and unseen


def raw_rows(root):
    """The CSV's first 40 rows as a new user would send them: columns reordered, target dropped,
    a clinic never seen in training, more blanks; row 4 is row 5 (clinic blank) at an unseen clinic."""
    rows = list(csv.DictReader((root / "diabetes.csv").open()))[:40]
    rows[0]["clinic"], rows[1]["sex"], rows[2]["s1"], rows[3]["age"] = "harbour", "", "", "NA"
    assert rows[BLANK_ROW]["clinic"] == ""
    rows[UNSEEN_ROW] = {**rows[BLANK_ROW], "clinic": "atlantis"}
    columns = ["clinic", "s6", "s5", "s4", "s3", "s2", "s1", "bp", "bmi", "sex", "age"]
    path = root / "new_patients.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([[row[c] for c in columns] for row in rows])
    return path, rows


def blank(cell):
    return cell.strip().lower() in ("", "na")


def onnx_bundle(root):
    """The run's ONNX bundle (exported by the format test, or here when run alone)."""
    bundle = root / "run" / "export" / "onnx"
    if not bundle.exists():
        export(root / "run", format="onnx")
    return bundle


def keras_predictions(run_dir, rows):
    run, cfg, parts, splits, network = load_run(run_dir, "final")
    model = parts.export.saved_model(network, splits)
    return np.asarray(model(raw_inputs(splits.info.features, rows), training=False)).reshape(-1)


def raw_inputs(features, rows):
    """The rows' cells as the model's raw inputs: strings (blank `""`), float32 (blank NaN)."""
    import tensorflow as tf

    inputs = {}
    for f in features:
        cells = [row[f["column"]].strip() for row in rows]
        if f["dtype"] == "string":
            inputs[f["name"]] = tf.constant([["" if blank(c) else c] for c in cells])
        else:
            numbers = [[np.nan if blank(c) else float(c)] for c in cells]
            inputs[f["name"]] = tf.constant(numbers, tf.float32)
    return inputs


def test_the_run_loads_back_in_plain_keras_and_with_zoo_load_model(diabetes_run, tmp_path):
    root, _ = diabetes_run
    _, rows = raw_rows(root)
    features = json.loads((root / "run" / "dataset.json").read_text())["features"]
    inputs = {name: np.char.decode(x.numpy().astype(bytes)) if x.dtype.name == "string" else x.numpy()
              for name, x in raw_inputs(features, rows).items()}
    outputs, = load_in_a_fresh_process({root / "run": inputs}, tmp_path)
    expected = keras_predictions(root / "run", rows)
    for how in ("plain", "zoo"):
        np.testing.assert_allclose(outputs[how].reshape(-1), expected, rtol=1e-5, atol=0.05, err_msg=how)
    assert_blank_is_its_own_category(outputs["plain"].reshape(-1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_bundle_takes_the_raw_csv_and_predicts_what_keras_predicts(diabetes_run, fmt):
    root, _ = diabetes_run
    meta = export(root / "run", format=fmt)
    assert meta["verification"]["passed"]
    inputs = {i["column"]: i for i in meta["inputs"]}
    assert inputs["clinic"]["dtype"] == "string" and "" in inputs["clinic"]["categories"]
    assert set(inputs["clinic"]["categories"]) <= {"north", "south", "east", "west", ""}
    assert inputs["bmi"]["dtype"] == "float32" and inputs["bmi"]["missing"] is True
    path, rows = raw_rows(root)
    out = root / f"pred_{fmt}.csv"
    predict(meta["bundle"], path, out)  # what `zoo predict` runs (the command: the ONNX tests below)
    got = np.array([float(r["prediction"]) for r in csv.DictReader(out.open())])
    expected = keras_predictions(root / "run", rows)
    assert got.shape == (40,) and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0.05)  # values ~1e5: float32 noise
    assert_blank_is_its_own_category(got)


def assert_blank_is_its_own_category(predictions):
    """A blank clinic was a category in training: answered unlike a clinic never seen."""
    assert abs(predictions[BLANK_ROW] - predictions[UNSEEN_ROW]) > 1.0, predictions[[BLANK_ROW, UNSEEN_ROW]]


def test_zoo_evaluate_of_a_run_with_blank_categories_gives_the_training_test_metrics(diabetes_run):
    root, result = diabetes_run
    reloaded = zoo.evaluate(root / "run", output=root / "evaluation")
    for name, value in result.metrics["test"].items():
        assert reloaded["test"][name] == pytest.approx(value, rel=1e-5), name


def test_onnx_predict_on_raw_strings_and_blanks_needs_no_tensorflow(diabetes_run):
    root, _ = diabetes_run
    bundle = onnx_bundle(root)
    path, _ = raw_rows(root)
    code = ("import sys; from zoo.cli.main import main; "
            f"rc = main(['predict', 'bundle={bundle}', 'input={path}', 'output={root / 'tf_free.json'}']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(json.loads((root / "tf_free.json").read_text())) == 40


def test_a_bad_cell_or_a_missing_column_in_a_prediction_file_is_named(diabetes_run):
    root, _ = diabetes_run
    bundle = onnx_bundle(root)
    rows = list(csv.reader((root / "diabetes.csv").open()))
    bad = root / "bad.csv"
    rows[3][2] = "obese"  # bmi
    bad.write_text("\n".join(",".join(r) for r in rows[:6]) + "\n")
    proc = run_zoo("predict", f"bundle={bundle}", f"input={bad}", f"output={root / 'x.csv'}")
    assert proc.returncode == 2 and "line 4" in proc.stderr
    assert "'bmi'" in proc.stderr and "'obese'" in proc.stderr
    missing = root / "no_bmi.csv"
    missing.write_text("\n".join(",".join(r[:2] + r[3:]) for r in rows[:6]) + "\n")
    proc = run_zoo("predict", f"bundle={bundle}", f"input={missing}", f"output={root / 'x.csv'}")
    assert proc.returncode == 2 and "no column 'bmi'" in proc.stderr
    assert not (root / "x.csv").exists()


def test_a_family_config_carries_its_training_recipe_unless_the_user_sets_it():
    bert = zoo.compose(["model=bert"])
    recipe = (bert.optimizer.name, bert.trainer.learning_rate, bert.trainer.lr_schedule)
    assert recipe == ("adamw", 5e-5, "linear")
    assert bert.trainer.warmup_epochs == 1 and bert.trainer.batch_size == 16
    mine = zoo.compose(["model=bert", "trainer.learning_rate=1e-4", "optimizer=sgd"])
    assert (mine.optimizer.name, mine.trainer.learning_rate) == ("sgd", 1e-4)
    cnn = zoo.compose([])
    assert (cnn.optimizer.name, cnn.trainer.learning_rate, cnn.trainer.epochs) == ("adam", 2e-3, 30)


def test_the_server_takes_named_raw_columns_with_nulls_and_unseen_categories(diabetes_run):
    import http.client

    from zoo.runtime.bundle import load_bundle
    from zoo.serving.server import ModelServer, start

    root, _ = diabetes_run
    _, rows = raw_rows(root)
    bundle = load_bundle(onnx_bundle(root))
    instances = [{i["name"]: (row[i["column"]] if i["dtype"] == "string" else
                              None if blank(row[i["column"]]) else float(row[i["column"]]))
                  for i in bundle.inputs} for row in rows[:8]]
    server = ModelServer([bundle], "127.0.0.1", 0)
    start(server)
    try:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        conn.request("POST", f"/v1/models/{bundle.name}:predict", body=json.dumps({"instances": instances}))
        reply = conn.getresponse()
        body = json.loads(reply.read())
    finally:
        server.close()
    assert reply.status == 200, body
    got = np.asarray(body["predictions"], np.float64).reshape(-1)
    np.testing.assert_allclose(got, keras_predictions(root / "run", rows[:8]), rtol=1e-5, atol=0.05)
    assert_blank_is_its_own_category(got)
