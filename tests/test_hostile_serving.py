"""Hostile requests and hostile repositories against a real `zoo serve` on 127.0.0.1, by class.

One small CSV regressor (scikit-learn's raw diabetes table with blanks, as people's files are: its
numeric columns impute blanks inside the model) exported to ONNX and served from a repository. Each
class of issue 24 is closed at one place in the code; the cases here go beyond the issue's examples:
non-finite outputs (one rule), coercions and silences (strict JSON numbers, gzip framing, one version
parser, labels.json, drift), tracebacks from bad shapes and `parameters`, images (one size rule, a
pixel bound before decoding), missing values through both protocols, and the signature-change rule.
Every request loop is bounded; the server listens on loopback only.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import logging
import re
import shutil
import struct
import time
import urllib.parse
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO

import zoo
from zoo.core.errors import ZooError
from zoo.export.exporter import export
from zoo.runtime.bundle import load_bundle
from zoo.runtime.profile import write_training_profile
from zoo.serving.codec import ApiError, to_array
from zoo.serving.inputs import read_table
from zoo.serving.options import ServeOptions
from zoo.serving.repository import parse_version, read_labels
from zoo.serving.server import ModelServer, start
from zoo.serving.tfserving import row_inputs

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import importlib.util

    root = tmp_path_factory.mktemp("hostile_serving")
    script = REPO / "scripts" / "make_tabular_csv.py"
    spec = importlib.util.spec_from_file_location("make_tabular_csv", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.write_diabetes_csv(root / "diabetes.csv")
    cfg = zoo.compose(["model=mlp", "dataset=csv", f"dataset.path={path}", "dataset.target=cost",
                       "trainer.epochs=2", *QUICK])
    zoo.train(cfg, root / "run")
    export(root / "run", format="onnx", output=root / "bundle", name="cost")
    opened = load_bundle(root / "bundle")
    write_training_profile(root / "bundle", read_table(path, opened.inputs)[1], opened.inputs)
    return root / "bundle"


@pytest.fixture(scope="module")
def model(bundle):
    return load_bundle(bundle)


@pytest.fixture(scope="module")
def server(bundle, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(bundle, repo / "cost" / "1")
    options = ServeOptions(max_request_bytes=200_000, max_instances=100, poll_s=0.1, batch_window_ms=1.0)
    srv = ModelServer(repository=repo, host="127.0.0.1", port=0, options=options)
    start(srv)
    srv.repo = repo
    yield srv
    srv.close()


def call(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, json.loads(raw)


def row(model, **changes):
    """One raw example (a real row of the training table) as TF Serving's named instance."""
    values = {"age": 59.0, "sex": "female", "bmi": 32.1, "bp": 101.0, "s1": 157.0, "s2": 93.2, "s3": 38.0,
              "s4": 4.0, "s5": 4.8598, "s6": 87.0, "clinic": "40-59"}
    out = {}
    for spec in model.inputs:
        value = values.get(spec["column"], 1.0 if spec["dtype"] != "string" else "x")
        out[spec["name"]] = [changes.get(spec["column"], value)]
    return out


def v2_inputs(model, instances):
    """v2 JSON inputs (one per column) for a list of `row()` instances."""
    inputs = []
    for spec in model.inputs:
        data = [inst[spec["name"]][0] for inst in instances]
        inputs.append({"name": spec["name"], "shape": [len(data), 1],
                       "datatype": "BYTES" if spec["dtype"] == "string" else "FP32", "data": data})
    return inputs


def numeric(model):
    return next(s for s in model.inputs if s["column"] == "bmi")


def drift_seen(server):
    return call(server, "GET", "/v1/models/cost/drift")[1].get("examples_seen")


# --- class 2: non-finite outputs are refused with the instance named, in both protocols ----------
@pytest.mark.parametrize("value", [3e38, -3e38])
def test_inputs_whose_outputs_are_not_finite_are_a_400_naming_the_instance(server, model, value):
    good = row(model)
    bad = row(model, **{s["column"]: value for s in model.inputs if s["dtype"] != "string"})
    direct = model.predict([np.asarray(bad[s["name"]], object if s["dtype"] == "string" else np.float32)
                            .reshape(1, 1) for s in model.inputs])
    assert not np.isfinite(direct).all()  # the premise: finite inputs, non-finite outputs
    seen = drift_seen(server)
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [good, bad]})
    assert code == 400 and "instance 1: the model's outputs are not finite" in answer["error"], answer
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"inputs": {
        k: [good[k][0], bad[k][0], good[k][0]] for k in good}})
    assert code == 400 and "instance 1: the model's outputs are not finite" in answer["error"], answer
    code, answer = call(server, "POST", "/v1/models/cost:regress", {"examples": [
        {k: v[0] for k, v in bad.items()}]})
    assert code == 400 and "instance 0: the model's outputs are not finite" in answer["error"], answer
    code, answer = call(server, "POST", "/v2/models/cost/infer", {"inputs": v2_inputs(model, [good, bad])})
    assert code == 400 and "instance 1" in answer["error"], answer
    assert drift_seen(server) == seen  # refused requests' rows are not counted as traffic
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [good]})
    assert code == 200 and np.isfinite(answer["predictions"]).all()
    assert drift_seen(server) == seen + 1


# --- class 3: coercions and silences ---------------------------------------------------------------
@pytest.mark.parametrize(("value", "message"), [
    ("100", 'got a string ("100")'), (True, "got a boolean (true)"), (False, "got a boolean"),
    ({"value": 1}, "b64 values are for string and image inputs"), ("", "got a string"),
])
def test_tf_serving_takes_json_numbers_only(server, model, value, message):
    seen = drift_seen(server)
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [row(model, bmi=value)]})
    assert code == 400 and message in answer["error"], answer
    assert drift_seen(server) == seen


def test_v2_refuses_an_input_given_twice_and_names_missing_and_unknown_ones(server, model):
    inputs = v2_inputs(model, [row(model)])
    code, answer = call(server, "POST", "/v2/models/cost/infer", {"inputs": [*inputs, inputs[0]]})
    assert code == 400 and "is given twice" in answer["error"], answer
    code, answer = call(server, "POST", "/v2/models/cost/infer", {"inputs": inputs[2:]})
    missing = ", ".join(repr(i["name"]) for i in inputs[:2])
    assert code == 400 and f"missing input(s) {missing}" in answer["error"], answer
    renamed = [{**inputs[0], "name": "agee"}, *inputs[1:]]
    code, answer = call(server, "POST", "/v2/models/cost/infer", {"inputs": renamed})
    assert code == 400 and "unknown input(s) 'agee'" in answer["error"] and "missing" in answer["error"]


def _gzip_cases(body: bytes) -> list[tuple[str, bytes, str]]:
    packed = gzip.compress(body)
    deflated = zlib.compress(body)
    return [("gzip", packed[:-8], "cut short"), ("gzip", packed[:-3], "cut short"),
            ("gzip", packed + b"garbage", "bytes follow the end"),
            ("gzip", packed + gzip.compress(body), "second member"),
            ("deflate", deflated + b"\x00", "bytes follow the end"), ("deflate", deflated[:-4], "cut short")]


def test_compressed_bodies_must_be_one_whole_stream(server, model):
    body = json.dumps({"instances": [row(model)]}).encode()
    for encoding, data, message in _gzip_cases(body):
        code, answer = call(server, "POST", "/v1/models/cost:predict", data, {"Content-Encoding": encoding})
        assert code == 400 and message in answer["error"], (encoding, answer)
    code, _ = call(server, "POST", "/v1/models/cost:predict", gzip.compress(body),
                   {"Content-Encoding": "gzip"})
    assert code == 200


@pytest.mark.parametrize("version", ["²", "١", "01", "+1", " 1", "1.0", "1e0", "0x1", "-1", "1" * 30])
def test_one_strict_version_parser_for_every_route(server, model, version):
    quoted = urllib.parse.quote(version, safe="")
    for method, path in (("GET", f"/v1/models/cost/versions/{quoted}"),
                         ("GET", f"/v1/models/cost/versions/{quoted}/metadata"),
                         ("POST", f"/v1/models/cost/versions/{quoted}:predict"),
                         ("POST", f"/v2/models/cost/versions/{quoted}/infer"),
                         ("GET", f"/v2/models/cost/versions/{quoted}")):
        body = {"instances": [row(model)]} if method == "POST" else None
        code, answer = call(server, method, path, body)
        assert code == 400 and "is not a version number" in answer["error"], (path, code, answer)
    assert parse_version(version) is None
    assert [parse_version(v) for v in ("0", "1", "12", 7)] == [0, 1, 12, 7]


@pytest.mark.parametrize(("content", "problem"), [
    ('{"stable": 1.9}', "label 'stable' is 1.9, not a version number"),
    ('{"stable": true}', "label 'stable' is true"), ('{"stable": -1}', "label 'stable' is -1"),
    ('{"stable": 1e999}', "label 'stable' is Infinity"), ('{"stable": "01"}', "label 'stable' is \"01\""),
    ("[1]", "expected an object"), ('{"stable": ', "not readable JSON"),
])
def test_labels_json_is_read_strictly(tmp_path, content, problem):
    (tmp_path / "labels.json").write_text(content)
    with pytest.raises(ZooError) as caught:
        read_labels(tmp_path / "labels.json")
    assert problem in str(caught.value)


def test_a_broken_repository_logs_once_and_keeps_serving(server, model, caplog):
    caplog.set_level(logging.WARNING, logger="zoo.serve")
    repo, body = server.repo, {"instances": [row(model)]}
    (repo / "cost" / "labels.json").write_text('{"stable": 1}')
    deadline = time.monotonic() + 20
    while call(server, "POST", "/v1/models/cost/labels/stable:predict", body)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (repo / "cost" / "labels.json").write_text('{"stable": 1e999, "canary": 1}')
    shutil.copytree(repo / "cost" / "1", repo / "cost" / "01")  # 1 and 01 must not collide
    time.sleep(1.0)  # ten polls
    assert call(server, "POST", "/v1/models/cost/labels/stable:predict", body)[0] == 200  # kept labels
    assert call(server, "POST", "/v1/models/cost/labels/canary:predict", body)[0] == 404
    hidden = repo.with_name(repo.name + "-moved")
    repo.rename(hidden)  # the whole repository root disappears while serving
    try:
        time.sleep(1.0)
        assert call(server, "POST", "/v1/models/cost:predict", body)[0] == 200
        assert call(server, "GET", "/v2/health/ready")[0] == 200
    finally:
        hidden.rename(repo)
    records = [r for r in caplog.records if r.name == "zoo.serve"]
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    messages = [r.getMessage() for r in records]
    assert sum("labels.json" in m and "Infinity" in m for m in messages) == 1, messages
    assert sum("ignoring" in m and "/01" in m for m in messages) == 1, messages
    assert sum("cannot read the repository" in m for m in messages) == 1, messages
    shutil.rmtree(repo / "cost" / "01")
    (repo / "cost" / "labels.json").unlink()


def test_a_new_version_with_other_inputs_is_not_promoted(server, model, caplog):
    caplog.set_level(logging.WARNING, logger="zoo.serve")
    repo = server.repo
    staged = repo.parent / "staged-2"
    shutil.copytree(repo / "cost" / "1", staged)
    meta = json.loads((staged / "export.json").read_text())
    meta["inputs"][0]["name"] = "age_in_days"  # another signature: every client would get 400s
    (staged / "export.json").write_text(json.dumps(meta))
    staged.rename(repo / "cost" / "2")
    deadline = time.monotonic() + 20
    while True:
        states = {s["version"]: s for s in call(server, "GET", "/v1/models/cost")[1]["model_version_status"]}
        if "2" in states and states["2"]["state"] == "END":
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    message = states["2"]["status"]["error_message"]
    assert "inputs (age_in_days float32[1]" in message and "differ from those of version 1 (age" in message
    assert "which stays the default" in message
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [row(model)]})
    assert code == 200
    assert any("version 2 not served" in r.getMessage() for r in caplog.records)
    shutil.rmtree(repo / "cost" / "2")


# --- class 4: bad shapes and `parameters` are 400s, never 500s -------------------------------------
def _v2_bad_bodies(model):
    good = v2_inputs(model, [row(model)])
    first = good[0]
    must_be_object = '"parameters" must be an object'
    return [
        ({"inputs": [{**first, "shape": [0, 4], "data": []}, *good[1:]]}, "positive integers"),
        ({"inputs": [{**first, "shape": [1, 2 ** 32, 2 ** 32], "data": [1.0]}, *good[1:]]},
         "values for shape"),
        ({"inputs": [{**first, "shape": [0, 2 ** 63], "data": []}, *good[1:]]}, "positive integers"),
        ({"inputs": [{"name": first["name"], "shape": [1, 2 ** 40], "datatype": "FP32"}, *good[1:]]},
         "give its values as"),
        ({"inputs": [{**first, "shape": [True, 1]}, *good[1:]]}, "positive integers"),
        ({"inputs": good, "parameters": "binary"}, '"parameters" must be an object'),
        ({"inputs": good, "parameters": [1]}, '"parameters" must be an object'),
        ({"inputs": [{**first, "parameters": "x"}, *good[1:]]}, '"parameters" must be an object'),
        ({"inputs": [{**first, "parameters": {"binary_data_size": True}}, *good[1:]]}, "binary_data_size"),
        ({"inputs": good, "outputs": [{"name": "output_0", "parameters": 3}]}, must_be_object),
        ({"inputs": good, "outputs": [{"name": "Identity:0"}]}, "requested outputs must be objects naming"),
        ({"inputs": good, "outputs": "output_0"}, "requested outputs must be objects naming"),
    ]


def test_v2_bad_shapes_and_parameters_are_400s(server, model):
    for body, message in _v2_bad_bodies(model):
        code, answer = call(server, "POST", "/v2/models/cost/infer", body)
        assert code == 400 and message in answer["error"], (body, answer)
    assert call(server, "GET", "/v2/health/live")[0] == 200


def _png(width: int, height: int) -> bytes:
    """A real PNG whose header declares `width` x `height` (its pixel data is a small real image:
    what an attacker sends costs nothing to make, only to decode)."""
    buffer = io.BytesIO()
    from PIL import Image

    Image.new("L", (8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8 + 8  # signature, then length and type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


IMAGE = {"name": "image", "dtype": "uint8", "shape": [None, None, None, 1]}
FIXED = {"name": "image", "dtype": "uint8", "shape": [None, 8, 8, 1]}


@pytest.mark.parametrize(("png", "spec", "status", "message"), [
    (_png(12000, 12000), IMAGE, 413, "the limit is 25,000,000"),
    (_png(20000, 20000), IMAGE, 413, "the limit is"),  # past PIL's own bomb limit too
    (_png(100000, 1), IMAGE, 400, "not a readable image"),  # within the bound, its data is short
    (_png(300, 200), FIXED, 400, "is 300x200 pixels, the model takes 8x8"),
    (_png(16, 16), FIXED, 400, "is 16x16 pixels, the model takes 8x8"),
])
def test_images_are_bounded_before_decoding_and_never_resized(png, spec, status, message):
    started = time.perf_counter()
    with pytest.raises(ApiError) as caught:
        to_array([{"b64": base64.b64encode(png).decode()}], spec, "input 'image'")
    assert caught.value.status == status and message in str(caught.value), str(caught.value)
    assert time.perf_counter() - started < 1.0


# --- class 6: missing values through both protocols, names, shapes of answers ---------------------
def test_a_blank_is_sendable_through_both_protocols_when_the_column_imputes(server, model):
    column = numeric(model)["name"]
    blank = row(model, bmi=None)
    code, tf_answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [blank]})
    assert code == 200, tf_answer
    inputs = v2_inputs(model, [blank])
    code, v2_answer = call(server, "POST", "/v2/models/cost/infer", {"inputs": inputs})
    assert code == 200, v2_answer
    assert np.allclose(v2_answer["outputs"][0]["data"], tf_answer["predictions"][0], rtol=1e-6)
    head = {"inputs": [({**i, "parameters": {"binary_data_size": 4}} if i["name"] == column else i)
                       for i in inputs]}
    for item in head["inputs"]:
        if item["name"] == column:
            item.pop("data")
    raw = json.dumps(head).encode()
    code, binary_answer = call(server, "POST", "/v2/models/cost/infer", raw + struct.pack("<f", np.nan),
                               {"Inference-Header-Content-Length": str(len(raw))})
    assert code == 200 and np.allclose(binary_answer["outputs"][0]["data"], tf_answer["predictions"][0])
    expected = model.predict([np.array([[np.nan]], np.float32) if s is numeric(model) else
                              (np.array([[blank[s["name"]][0]]], object) if s["dtype"] == "string"
                               else np.array([[blank[s["name"]][0]]], np.float32)) for s in model.inputs])
    assert np.allclose(tf_answer["predictions"][0], expected.reshape(-1)[0], rtol=1e-5)
    assert numeric(model).get("fill") is not None


def test_answers_name_inputs_and_outputs_as_the_signature_does(server, model):
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [row(model)]})
    assert code == 200 and "labels" not in answer  # a regressor's answer has predictions only
    code, answer = call(server, "POST", "/v1/models/cost:predict", {"instances": [{"input": [1.0]}]})
    assert code == 400 and "instance 0 lacks input 'age'" in answer["error"], answer
    one_input = SimpleNamespace(bundle=SimpleNamespace(takes_text=False, inputs=[
        {"name": "features", "dtype": "float32", "shape": [None, 4]}]))
    for rows, message in (([{"input": [1.0, 2.0, 3.0, 4.0]}], "lacks input 'features'"),
                          ([{"features": [1.0, 2.0, 3.0, 4.0], "extra": 1}], "unknown input(s) 'extra'")):
        with pytest.raises(ApiError, match=re.escape(message)):
            row_inputs(one_input, rows, 10)
    assert row_inputs(one_input, [{"features": [1.0, 2.0, 3.0, 4.0]}], 10)[0].shape == (1, 4)
    meta = call(server, "GET", "/v1/models/cost/metadata")[1]
    outputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert list(outputs) == ["output_0"]
    assert call(server, "GET", "/v2/models/cost")[1]["outputs"][0]["name"] == "output_0"
    listing = call(server, "GET", "/v1/models")[1]
    assert listing["object"] == "list" and [m["id"] for m in listing["data"]] == ["cost"]
    assert listing["data"][0]["object"] == "model" and listing["models"][0]["versions"] == [1]
