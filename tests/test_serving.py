"""`zoo serve`: a real HTTP server on a free loopback port, good, bad and concurrent requests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets

import zoo
from zoo.export.exporter import export
from zoo.export.runtime import load_bundle
from zoo.serving.server import ModelServer, start

QUICK = ("trainer.plots=false", "trainer.tensorboard=false")
PREDICT = "/v1/models/iris:predict"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("iris")
    zoo.train(zoo.compose(["experiment=mlp_iris", "trainer.epochs=40", *QUICK]), root / "run")
    export(root / "run", format="onnx", output=root / "bundle", name="iris")
    return root / "bundle"


@pytest.fixture(scope="module")
def server(bundle):
    srv = ModelServer([load_bundle(bundle)], "127.0.0.1", 0, max_request_bytes=20_000, max_instances=200)
    start(srv)
    yield srv
    srv.close()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


def test_status_listing_health_and_a_prediction_that_matches_the_bundle(server, bundle):
    assert request(server, "GET", "/healthz") == (200, {"status": "ok", "models": ["iris"]})
    assert request(server, "GET", "/v1/models")[1]["models"][0]["name"] == "iris"
    status, meta = request(server, "GET", "/v1/models/iris")
    assert status == 200 and meta["model_version_status"][0]["state"] == "AVAILABLE"
    assert meta["metadata"]["inputs"][0]["shape"] == [None, 4]
    iris = datasets.load_iris()
    status, answer = request(server, "POST", "/v1/models/iris:predict", {"instances": iris.data.tolist()})
    assert status == 200
    expected = load_bundle(bundle).predict([iris.data.astype(np.float32)])
    np.testing.assert_allclose(answer["predictions"], expected, atol=1e-6)
    classes = meta["metadata"]["outputs"]["class_names"]
    accuracy = np.mean([label == classes[t] for label, t in zip(answer["labels"], iris.target, strict=True)])
    assert accuracy > 0.8


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v1/models/iris:predict", b"{not json", 400, "malformed JSON"),
    ("POST", "/v1/models/iris:predict", {"inputs": [[1, 2, 3, 4]]}, 400, '{"instances": [...]}'),
    ("POST", "/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, 400, "expected [4]"),
    ("POST", "/v1/models/iris:predict", {"instances": [[1, 2, 3, 4], [1, 2]]}, 400, "ragged"),
    ("POST", "/v1/models/iris:predict", {"instances": [["a", "b", "c", "d"]]}, 400, "must hold numbers"),
    ("POST", "/v1/models/iris:predict", {"instances": [[1.0, 2, 3, 4]] * 201}, 413, "the limit is 200"),
    ("POST", "/v1/models/iris:predict", {"instances": [[1.0, 2, 3, 4]] * 2000}, 413, "exceeds the limit"),
    ("POST", "/v1/models/rose:predict", {"instances": [[1, 2, 3, 4]]}, 404, "no model 'rose'"),
    ("GET", "/v2/anything", None, 404, "no route"),
])
def test_bad_requests_get_a_4xx_answer_and_the_server_lives_on(server, method, path, body, status, message):
    got, payload = request(server, method, path, body)
    assert got == status and message in payload["error"]
    assert request(server, "GET", "/healthz")[0] == 200


def test_a_concurrent_burst_is_batched_and_answers_equal_single_requests(server):
    rows = datasets.load_iris().data.tolist()
    singles = [request(server, "POST", "/v1/models/iris:predict", {"instances": [r]})[1] for r in rows[:40]]
    calls = server.models["iris"].batcher.calls
    with ThreadPoolExecutor(max_workers=16) as pool:
        burst = list(pool.map(lambda r: request(server, "POST", PREDICT, {"instances": [r]}), rows[:40]))
    assert all(status == 200 for status, _ in burst)
    for (_, got), want in zip(burst, singles, strict=True):
        np.testing.assert_allclose(got["predictions"], want["predictions"], atol=1e-6)
        assert got["labels"] == want["labels"]
    assert server.models["iris"].batcher.calls - calls < 40  # some requests shared a model call


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_zoo_serve_command_listens_on_loopback_without_tensorflow(bundle):
    port = free_port()
    code = ("import sys, threading; from zoo.cli.main import main; "
            f"threading.Thread(target=main, args=(['serve', 'bundle={bundle}', 'port={port}'],), daemon=True)"
            ".start(); sys.stdin.readline(); "
            "print('tf' if 'tensorflow' in sys.modules else 'no-tf', flush=True)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert f"on http://127.0.0.1:{port}/v1/models" in proc.stdout.readline()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", PREDICT, body=json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}))
        assert json.loads(conn.getresponse().read())["labels"] == ["setosa"]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "no-tf"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_serve_names_a_missing_bundle_and_a_busy_port(bundle, tmp_path):
    from conftest import run_zoo

    proc = run_zoo("serve", f"bundle={tmp_path / 'nothing'}")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_zoo("serve", f"bundle={bundle}", f"port={busy.getsockname()[1]}")
    assert proc.returncode == 2 and "pass another port" in proc.stderr
    assert Path(bundle, "export.json").exists()
