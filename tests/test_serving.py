"""`zoo serve`: a real uvicorn server on loopback, spoken to by clients no one here wrote.

One tiny iris bundle for the module (with a training profile for drift), one server for most tests:
TF Serving's REST shapes as documented, `tritonclient.http` (binary and JSON tensors), Prometheus'
own text parser on /metrics, and hostile requests that must each get a JSON 4xx while the server
stays up.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as triton
from prometheus_client.parser import text_string_to_metric_families
from sklearn import datasets
from tritonclient.utils import InferenceServerException

import zoo
from zoo.export.exporter import export
from zoo.runtime.bundle import load_bundle
from zoo.runtime.profile import write_training_profile
from zoo.serving.options import ServeOptions
from zoo.serving.server import ModelServer, start

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")
PREDICT = "/v1/models/iris:predict"
IRIS = datasets.load_iris()


def iris_columns(bundle, x: np.ndarray) -> dict[str, np.ndarray]:
    """Iris features as the bundle's inputs: one (n, 4) input, or one input per CSV column."""
    specs = bundle.inputs
    if len(specs) == 1:
        return {specs[0]["name"]: x.astype(np.float32)}
    return {s["name"]: x[:, j].reshape(-1, *[d for d in s["shape"][1:]]).astype(np.float32)
            for j, s in enumerate(specs)}


def iris_instances(bundle, x: np.ndarray) -> list:
    columns = iris_columns(bundle, x)
    if len(columns) == 1:
        return next(iter(columns.values())).tolist()
    return [{k: v[i].tolist() for k, v in columns.items()} for i in range(len(x))]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("iris")
    zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.epochs=40", *QUICK]), root / "run")
    export(root / "run", format="onnx", output=root / "bundle", name="iris")
    opened = load_bundle(root / "bundle")
    write_training_profile(root / "bundle", list(iris_columns(opened, IRIS.data).values()), opened.inputs)
    return root / "bundle"


@pytest.fixture(scope="module")
def model(bundle):
    return load_bundle(bundle)


@pytest.fixture(scope="module")
def server(bundle):
    options = ServeOptions(max_request_bytes=20_000, max_instances=200, header_timeout_s=1.0,
                           body_timeout_s=1.0, batch_window_ms=5.0)
    srv = ModelServer([load_bundle(bundle)], "127.0.0.1", 0, options=options)
    start(srv)
    yield srv
    srv.close()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*server.server_address, timeout=30)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


def test_tf_serving_status_metadata_and_row_predictions_match_the_bundle(server, model):
    assert request(server, "GET", "/healthz") == (200, {"status": "ok", "models": ["iris"]})
    status = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                        "status": {"error_code": "OK", "error_message": ""}}]}
    assert request(server, "GET", "/v1/models/iris") == (200, status)
    assert request(server, "GET", "/v1/models/iris/versions/1") == (200, status)
    code, meta = request(server, "GET", "/v1/models/iris/metadata")
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert code == 200 and meta["model_spec"] == {"name": "iris", "signature_name": "", "version": "1"}
    assert set(signature["inputs"]) == {s["name"] for s in model.inputs}
    assert next(iter(signature["inputs"].values()))["dtype"] == "DT_FLOAT"
    code, answer = request(server, "POST", PREDICT, {"instances": iris_instances(model, IRIS.data)})
    assert code == 200
    expected = model.predict(list(iris_columns(model, IRIS.data).values()))
    np.testing.assert_allclose(answer["predictions"], expected, atol=1e-6)
    accuracy = np.mean(np.asarray(answer["labels"]) == np.asarray(IRIS.target_names)[IRIS.target])
    assert accuracy > 0.8


def test_columnar_named_rows_classify_and_signature_checks(server, model):
    x = IRIS.data[::10]
    expected = model.predict(list(iris_columns(model, x).values()))
    columns = {k: v.tolist() for k, v in iris_columns(model, x).items()}
    for body in ({"inputs": columns}, {"signature_name": "serving_default", "inputs": columns},
                 {"instances": [{k: v[i] for k, v in columns.items()} for i in range(len(x))]}):
        code, answer = request(server, "POST", "/v1/models/iris/versions/1:predict", body)
        assert code == 200, answer
        np.testing.assert_allclose(answer.get("outputs", answer.get("predictions")), expected, atol=1e-6)
    packed = gzip.compress(json.dumps({"inputs": columns}).encode())
    code, answer = request(server, "POST", PREDICT, packed, {"Content-Encoding": "gzip"})
    assert code == 200 and np.allclose(answer["outputs"], expected, atol=1e-6)
    code, answer = request(server, "POST", "/v1/models/iris:classify",
                           {"examples": [{k: v[i] for k, v in columns.items()} for i in range(len(x))]})
    assert code == 200
    assert [[name for name, _ in row] for row in answer["result"]] == [list(IRIS.target_names)] * len(x)
    np.testing.assert_allclose([[p for _, p in row] for row in answer["result"]], expected, atol=1e-6)
    for path, body, status, message in [
        (PREDICT, {"signature_name": "serve", "inputs": columns}, 400, 'signature name: "serve" not found'),
        ("/v1/models/iris:regress", {"examples": [{}]}, 400, "regress needs a regressor"),
        ("/v1/models/iris/versions/7:predict", {"inputs": columns}, 404, "no available version 7"),
        ("/v1/models/iris/labels/stable:predict", {"inputs": columns}, 404, "no version label 'stable'"),
        (PREDICT, {"inputs": columns, "instances": []}, 400, "exactly one of them"),
    ]:
        got, payload = request(server, "POST", path, body)
        assert got == status and message in payload["error"], payload


def test_tritonclient_binary_and_json_tensors(server, model):
    client = triton.InferenceServerClient(f"127.0.0.1:{server.server_address[1]}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("iris")
    meta = client.get_model_metadata("iris")
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    columns = iris_columns(model, IRIS.data[:20])
    expected = model.predict(list(columns.values()))
    output = meta["outputs"][0]["name"]
    for binary in (True, False):
        inputs = []
        for spec in meta["inputs"]:
            tensor = triton.InferInput(spec["name"], list(columns[spec["name"]].shape), spec["datatype"])
            tensor.set_data_from_numpy(columns[spec["name"]], binary_data=binary)
            inputs.append(tensor)
        requested = [triton.InferRequestedOutput(output, binary_data=binary)]
        result = client.infer("iris", inputs, outputs=requested, model_version="1")
        np.testing.assert_allclose(result.as_numpy(output), expected, atol=1e-6)
        assert result.get_response()["model_version"] == "1"
    with pytest.raises(InferenceServerException, match="no model 'rose'"):
        client.get_model_metadata("rose")
    client.close()


def _raw(server, data: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(server.server_address, timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def one_row(model, poison: str = "") -> bytes:
    """A valid one-instance body in the bundle's layout, its first number replaced by `poison`."""
    text = json.dumps({"instances": iris_instances(model, IRIS.data[:1])})
    return re.sub(r"\d+\.\d+", poison, text, count=1).encode() if poison else text.encode()


V2_HEAD = (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", '
           b'"parameters": {"binary_data_size": 400}}]}')


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "message"), [
    ("POST", PREDICT, b"{not json", None, 400, "malformed JSON"),
    ("POST", PREDICT, "NaN", None, 400, "invalid number NaN"),
    ("POST", PREDICT, "-Infinity", None, 400, "invalid number -Infinity"),
    ("POST", PREDICT, "1e999", None, 400, "NaN or infinite"),
    ("POST", PREDICT, b"[" * 9_000 + b"]" * 9_000, None, 400, "nested too deeply"),
    ("POST", PREDICT, lambda m: {"instances": iris_instances(m, IRIS.data[:1]) * 201}, None, 413,
     "the limit is 200"),
    ("POST", PREDICT, lambda m: {"instances": iris_instances(m, IRIS.data[:1]) * 2000}, None, 413,
     "exceeds the limit"),
    ("POST", PREDICT, lambda m: gzip.compress(json.dumps({"instances": [[0.5] * 4] * 9000}).encode()),
     {"Content-Encoding": "gzip"}, 413, "decompressed body exceeds"),
    ("POST", PREDICT, b'{"instances": [[1, 2, 3, 4]]}', {"Content-Encoding": "br"}, 415, "not supported"),
    ("POST", "/v1/models/rose:predict", "", None, 404, "no model 'rose'"),
    ("PUT", PREDICT, "", None, 405, "PUT is not allowed"),
    ("GET", PREDICT, None, None, 405, "GET is not allowed"),
    ("DELETE", "/v2/health/live", None, None, 405, "DELETE is not allowed"),
    ("GET", "/v3/anything", None, None, 404, "no route"),
    ("POST", "/v2/models/iris/infer", {"inputs": [{"name": "x", "shape": [1, -4], "datatype": "FP32",
                                                   "data": [1]}]}, None, 400, "positive integers"),
    ("POST", "/v2/models/iris/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                                   "data": ["a"]}]}, None, 400, "got a string"),
    ("POST", "/v2/models/iris/infer", V2_HEAD + b"abcd",
     {"Inference-Header-Content-Length": str(len(V2_HEAD))}, 400, "runs past the binary data"),
])
def test_hostile_requests_get_a_json_4xx_and_the_server_lives_on(server, model, method, path, body, headers,
                                                                 status, message):
    if isinstance(body, str):
        body = one_row(model, body)
    elif callable(body):
        body = body(model)
    got, payload = request(server, method, path, body, headers)
    assert got == status and message in payload["error"], payload
    assert request(server, "GET", "/healthz")[0] == 200


def test_short_bodies_and_stalled_headers_time_out_with_408(server):
    started = time.monotonic()
    head = b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\n"
    answer = _raw(server, head + b"Content-Length: 500\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 s" in answer
    answer = _raw(server, head + b"X-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408") and b"headers did not arrive" in answer
    assert _raw(server, b"").startswith(b"HTTP/1.1 408")  # connected, said nothing
    assert time.monotonic() - started < 10
    big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _raw(server, big).startswith(b"HTTP/1.1 431")
    assert request(server, "GET", "/healthz")[0] == 200


def test_a_concurrent_burst_is_batched_and_answers_equal_single_requests(server, model):
    rows = iris_instances(model, IRIS.data)[:40]
    singles = [request(server, "POST", PREDICT, {"instances": [r]})[1] for r in rows]
    calls = server.models["iris"].versions[1].batcher.calls
    with ThreadPoolExecutor(max_workers=16) as pool:
        burst = list(pool.map(lambda r: request(server, "POST", PREDICT, {"instances": [r]}), rows))
    assert all(status == 200 for status, _ in burst)
    for (_, got), want in zip(burst, singles, strict=True):
        np.testing.assert_allclose(got["predictions"], want["predictions"], atol=1e-6)
        assert got["labels"] == want["labels"]
    assert server.models["iris"].versions[1].batcher.calls - calls < 40  # some requests shared a call


@pytest.fixture
def fresh_server(bundle):
    """A server of its own, for counts and drift statistics no other test has touched."""
    srv = ModelServer([load_bundle(bundle)], "127.0.0.1", 0)
    start(srv)
    yield srv
    srv.close()


def test_drift_endpoint_and_metrics_read_by_prometheus_parser(fresh_server, model, caplog):
    server, x = fresh_server, IRIS.data
    with caplog.at_level(logging.INFO, logger="zoo.access"):
        assert request(server, "POST", PREDICT, {"instances": iris_instances(model, x)})[0] == 200
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "zoo.access"]
    assert any(a["path"] == PREDICT and a["status"] == 200 and a["model"] == "iris" for a in access)
    code, drift = request(server, "GET", "/v1/models/iris/drift")
    assert code == 200 and drift["status"] == "stable" and drift["max_psi"] < 0.1, drift
    shifted = x * 1.5 + 2.0  # a shifted population: every feature moves out of its training bins
    for _ in range(3):
        assert request(server, "POST", PREDICT, {"instances": iris_instances(model, shifted)})[0] == 200
    code, drift = request(server, "GET", "/v2/models/iris/drift")
    assert drift["status"] == "significant" and min(f["psi"] for f in drift["features"].values()) > 0.25
    request(server, "POST", PREDICT, b"{bad")
    conn = http.client.HTTPConnection(*server.server_address, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(name, **labels):
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert value("zoo_http_requests_total", route="v1_predict", code="200") >= 4
    assert value("zoo_http_requests_total", route="v1_predict", code="400") >= 1
    assert value("zoo_http_request_duration_seconds_count", route="v1_predict") >= 5
    assert value("zoo_batch_size_count", model="iris", version="1") >= 4
    assert value("zoo_batch_size_sum", model="iris", version="1") >= 4 * len(x)
    assert value("zoo_inference_examples_total", model="iris", protocol="tfserving") >= 4 * len(x)
    assert value("zoo_model_versions_loaded", model="iris") == 1
    assert any(s.name == "zoo_queue_depth" for s in samples)
    assert value("process_resident_memory_bytes") > 0
    psi = [s for s in samples if s.name == "zoo_input_drift_psi"]
    assert len(psi) == len(drift["features"]) and min(s.value for s in psi) > 0.25


def wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the repository to change"
        time.sleep(0.1)


def test_repository_serves_numbered_versions_and_reloads_without_a_restart(bundle, model, tmp_path):
    import shutil

    repo = tmp_path / "models"
    shutil.copytree(bundle, repo / "iris" / "1")
    srv = ModelServer(repository=repo, port=0, options=ServeOptions(poll_s=0.2))
    start(srv)
    body = {"instances": iris_instances(model, IRIS.data[:3])}

    def versions():
        answer = request(srv, "GET", "/v1/models/iris")[1]
        return {s["version"]: s["state"] for s in answer["model_version_status"]}

    try:
        assert versions() == {"1": "AVAILABLE"}
        broken = tmp_path / "staging" / "3"
        shutil.copytree(bundle, broken)
        (broken / "model.onnx").write_bytes(b"not an onnx model")
        shutil.move(broken, repo / "iris" / "3")  # a bad version first: it must not replace version 1
        wait_for(lambda: versions().get("3") == "END")
        status = request(srv, "GET", "/v1/models/iris/versions/3")[1]["model_version_status"][0]
        assert "failed to load" in status["status"]["error_message"]
        assert request(srv, "GET", "/v2/models/iris")[1]["versions"] == ["1"]
        shutil.copytree(bundle, tmp_path / "staging" / "2")
        shutil.move(tmp_path / "staging" / "2", repo / "iris" / "2")  # atomic rename, as TF Serving wants
        wait_for(lambda: versions().get("2") == "AVAILABLE")
        client = triton.InferenceServerClient(f"127.0.0.1:{srv.server_address[1]}")
        assert client.get_model_metadata("iris")["versions"] == ["1", "2"]
        columns = iris_columns(model, IRIS.data[:3])
        inputs = []
        for name, x in columns.items():
            inputs.append(triton.InferInput(name, list(x.shape), "FP32"))
            inputs[-1].set_data_from_numpy(x)
        assert client.infer("iris", inputs).get_response()["model_version"] == "2"  # the newest by default
        assert client.infer("iris", inputs, model_version="1").get_response()["model_version"] == "1"
        (repo / "iris" / "labels.json").write_text('{"stable": 1, "canary": 2}')
        wait_for(lambda: request(srv, "POST", "/v1/models/iris/labels/stable:predict", body)[0] == 200)
        canary = request(srv, "GET", "/v1/models/iris/labels/canary")[1]["model_version_status"]
        assert canary[0]["version"] == "2"
        shutil.rmtree(repo / "iris" / "1")
        wait_for(lambda: versions().get("1") == "END")
        assert request(srv, "POST", "/v1/models/iris/versions/1:predict", body)[0] == 404
        assert request(srv, "POST", PREDICT, body)[0] == 200
    finally:
        srv.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_zoo_serve_drains_on_sigterm_logs_access_and_never_imports_tensorflow(bundle, model):
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    code = ("import atexit, sys; atexit.register(lambda: print('tf' if 'tensorflow' in sys.modules "
            "else 'no-tf', flush=True)); from zoo.cli.main import main; "
            f"sys.exit(main(['serve', 'bundle={bundle}', 'port={port}', 'batch_window_ms=400']))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert f"on http://127.0.0.1:{port}/v1/models" in proc.stdout.readline()
        target = type("Target", (), {"server_address": ("127.0.0.1", port)})
        body = {"instances": iris_instances(model, IRIS.data[:1])}
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(request, target, "POST", PREDICT, body) for _ in range(6)]
            time.sleep(0.2)  # the requests wait in the 400 ms batch window: in flight at SIGTERM
            proc.send_signal(signal.SIGTERM)
            answers = [f.result(timeout=30) for f in futures]
        assert [status for status, _ in answers] == [200] * 6
        assert all(a["labels"] == ["setosa"] for _, a in answers)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert "stopped: in-flight requests drained" in lines and lines[-1] == "no-tf"
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert len([a for a in logged if a["path"] == PREDICT and a["status"] == 200]) == 6


def test_serve_names_a_missing_bundle_a_busy_port_and_a_missing_source(bundle, tmp_path):
    from conftest import run_zoo

    proc = run_zoo("serve", f"bundle={tmp_path / 'nothing'}")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_zoo("serve", f"repository={tmp_path / 'nothing'}")
    assert proc.returncode == 2 and "repository folder" in proc.stderr and "does not exist" in proc.stderr
    proc = run_zoo("serve", "port=1")
    assert proc.returncode == 2 and "give bundle=FOLDER" in proc.stderr
    proc = run_zoo("serve", f"bundle={bundle}", "max_queue=ten")
    assert proc.returncode == 2 and "max_queue='ten': expected an integer" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_zoo("serve", f"bundle={bundle}", f"port={busy.getsockname()[1]}")
    assert proc.returncode == 2 and "pass another port" in proc.stderr
    assert (bundle / "export.json").exists()
