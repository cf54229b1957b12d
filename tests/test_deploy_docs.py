"""The deployment files in docs/deploy.md: valid Kubernetes objects that probe and run what
`zoo serve` answers and accepts."""

from __future__ import annotations

import re

import kubernetes_validate
import yaml
from conftest import REPO

from zoo.cli.options import parse_options
from zoo.config.commands import ServeCommand
from zoo.serving.app import create_app
from zoo.serving.metrics import ServerMetrics
from zoo.serving.options import ServeOptions
from zoo.serving.repository import ModelRepository

DOC = (REPO / "docs" / "deploy.md").read_text()
K8S_VERSION = "1.33.0"
PINNED = r'"((?:starlette|uvicorn\[standard\]|prometheus-client|onnxruntime|orjson)[^"]*)"'


def yaml_documents() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def test_the_kubernetes_yaml_is_valid_against_the_api_schema():
    documents = yaml_documents()
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)  # raises on any schema error
    broken = {**documents[0], "spec": {**documents[0]["spec"], "replicas": "two"}}
    try:
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        assert "replicas" in str(exc.path) or "two" in str(exc)
    else:
        raise AssertionError("the validator accepted replicas: two")


def test_probes_and_arguments_are_what_zoo_serve_answers_and_accepts():
    deployment, service, autoscaler = yaml_documents()
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"][:2] == ["zoo", "serve"]
    options = parse_options("serve", ServeCommand, container["args"][2:])  # raises on an unknown option
    assert options.host == "0.0.0.0" and options.port == container["ports"][0]["containerPort"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["spec"]["terminationGracePeriodSeconds"] > options.drain_timeout_s + pause
    app = create_app(ModelRepository(ServeOptions(), ServerMetrics()), ServeOptions(), ServerMetrics())
    paths = {route.path for route in app.app.routes}
    probed = {container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"],
              pod["metadata"]["annotations"]["prometheus.io/path"]}
    assert probed <= paths, probed - paths
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    dockerfile = re.search(r"```dockerfile\n(.*?)```", DOC, re.S)[1]
    command = yaml.safe_load(re.search(r"^CMD (.*)$", dockerfile, re.M)[1])
    parse_options("serve", ServeCommand, command[2:])
    setup = (REPO / "setup.cfg").read_text()
    pins = re.findall(PINNED, dockerfile)
    assert len(pins) == 5 and all(pin in setup for pin in pins), pins
