"""What a run reports beyond its folder: MLflow (tracking=mlflow), TensorBoard extras, readable plots."""

from __future__ import annotations

import io
import socket
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_zoo, train_interrupted
from PIL import Image

import zoo
from zoo.core.errors import ZooError
from zoo.evaluation.plots import learning_curves_figure
from zoo.export.exporter import export
from zoo.run import tracking
from zoo.run.rundir import read_history

IRIS = ["experiment=mlp_iris", "trainer.epochs=2", "trainer.batch_size=32"]


def test_one_epoch_learning_curves_have_markers_and_a_learning_rate_panel(tmp_path):
    """A one-epoch run plots dots, not nothing; with tracking=none it never imports MLflow (this test
    runs first in the module, before the MLflow tests import it)."""
    imported_before = "mlflow" in sys.modules
    zoo.train(zoo.compose([IRIS[0], "trainer.epochs=1"]), tmp_path / "run")
    assert imported_before or "mlflow" not in sys.modules, "tracking=none imported MLflow"
    history = read_history(tmp_path / "run/history.csv")
    assert len(history["loss"]) == 1 and history["learning_rate"][0] >= 0  # cosine ends at 0
    figure = learning_curves_figure(history)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[-1] == "learning rate" and "loss" in titles
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert lines and all(line.get_marker() == "o" and len(line.get_xdata()) == 1 for line in lines)
    with Image.open(tmp_path / "run/plots/learning_curves.png") as image:
        assert image.size[0] == 100 * 4.5 * len(titles)  # one panel per metric plus the rate


CONNECTIONS: list = []


def refuse(sock, address):
    CONNECTIONS.append(address)
    raise OSError(f"test: no network ({address})")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """mlp_iris with tracking=mlflow into ./mlruns, interrupted after epoch 1 and resumed, then
    exported; every socket connection attempt on the way is recorded (and refused)."""
    folder = tmp_path_factory.mktemp("tracked")
    cfg = zoo.compose([*IRIS, "tracking=mlflow", "tracking.experiment=iris"])
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        train_interrupted(cfg, folder / "run", patch, after_epoch=0)
        result = zoo.train(cfg, folder / "run")
        result.export = export(folder / "run", format="onnx")
    return folder, cfg, result


def test_mlflow_run_holds_params_epoch_metrics_plots_and_bundle(tracked_run):
    from mlflow import MlflowClient

    folder, cfg, result = tracked_run
    assert (folder / "mlruns").is_dir() and CONNECTIONS == []  # the file store never reaches the network
    client = MlflowClient(tracking_uri=(folder / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("iris")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the resumed run logged on into the interrupted one's MLflow run
    run = runs[0]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["trainer.epochs"] == "2" and run.data.params["model.name"] == "mlp"
    assert float(run.data.params["trainer.learning_rate"]) == cfg.trainer.learning_rate
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [0, 1], key
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
    assert losses == pytest.approx(result.history["loss"])
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "plots", "export"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/learning_curves.png", "plots/confusion_matrix.png"} <= plots
    bundle = {a.path for a in client.list_artifacts(run.info.run_id, "export/onnx")}
    assert "export/onnx/model.onnx" in bundle, bundle
    local = client.download_artifacts(run.info.run_id, "plots/learning_curves.png", str(folder))
    assert Image.open(local).size == Image.open(result.run_dir / "plots/learning_curves.png").size


def test_tracking_uri_names_another_store_and_plain_paths_become_file_uris(tmp_path):
    assert tracking.store_uri(str(tmp_path / "store")) == (tmp_path / "store").as_uri()
    assert tracking.store_uri(None) == (Path.cwd() / "mlruns").resolve().as_uri()
    assert tracking.store_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_unreachable_tracking_server_fails_fast_in_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = zoo.compose(["experiment=mlp_iris", "tracking=mlflow", f"tracking.uri=http://127.0.0.1:{port}"])
    expected = f"tracking.uri=http://127.0.0.1:{port}: MLflow could not start"
    with pytest.raises(ZooError, match=expected) as info:
        tracking.MlflowTracker.start(cfg, tmp_path, resuming=False)
    assert "\n" not in str(info.value)


def test_tensorboard_gets_hparams_test_metrics_and_the_confusion_matrix(tracked_run):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, cfg, result = tracked_run
    board = result.run_dir / "tensorboard"
    test = EventAccumulator(str(board / "test"), size_guidance={"tensors": 0})
    test.Reload()
    assert {"confusion_matrix", "test_accuracy"} <= set(test.Tags()["tensors"])
    accuracy = tf.make_ndarray(test.Tensors("test_accuracy")[-1].tensor_proto)
    assert float(accuracy) == pytest.approx(result.metrics["test"]["accuracy"])
    width, height, png = tf.make_ndarray(test.Tensors("confusion_matrix")[-1].tensor_proto)
    image = Image.open(io.BytesIO(png))
    assert image.size == (int(width), int(height)) and min(image.size) >= 300
    assert np.asarray(image.convert("L")).std() > 10  # a drawn matrix, not a blank image
    sessions = []
    for path in board.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams" and value.tag.endswith(
                        "session_start_info"):
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    sessions.append(data.session_start_info.hparams)
    assert sessions, "no hparams session in the TensorBoard log"
    hparams = sessions[-1]
    assert hparams["trainer.learning_rate"].number_value == pytest.approx(cfg.trainer.learning_rate)
    assert hparams["model.name"].string_value == "mlp"


def test_tracking_without_mlflow_names_the_extra_in_one_line(tmp_path):
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class NoMlflow:
            def find_spec(self, name, path=None, target=None):
                if name == "mlflow" or name.startswith("mlflow."):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, NoMlflow())
    """))
    done = run_zoo("train", "experiment=mlp_iris", "tracking=mlflow", cwd=tmp_path,
                   env={"PYTHONPATH": str(blocker)})
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'pip install "keras-zoo[tracking]"' in lines[0], done.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists()


def test_unknown_tracking_backend_and_key_fail_in_one_line_before_any_work(tmp_path):
    cfg = zoo.compose(["experiment=mlp_iris", "tracking.backend=wandb"])
    with pytest.raises(ZooError, match="tracking.backend=wandb: expected one of none, mlflow") as info:
        zoo.train(cfg, tmp_path / "run")
    assert "\n" not in str(info.value) and not (tmp_path / "run").exists()
    done = run_zoo("train", "tracking=mlflow", "tracking.urii=x", cwd=tmp_path)
    assert done.returncode != 0 and "did you mean 'tracking.uri'" in done.stderr, done.stderr


def test_the_confusion_matrix_scales_to_the_classes_and_is_skipped_past_its_limit(tmp_path, caplog):
    from sklearn.datasets import load_digits
    from sklearn.metrics import confusion_matrix as counts

    from zoo.evaluation import plots

    y = load_digits().target  # real labels; 100 and 150 "classes" from pairs and triples of digits
    for n in (100, 150):
        true = (y[:-2] * 10 + y[1:-1]) % n if n == 100 else (y[:-2] * 100 + y[1:-1] * 10 + y[2:]) % n
        pred = np.roll(true, 1)
        matrix = counts(true, pred, labels=range(n))
        out = tmp_path / f"confusion_{n}.png"
        with caplog.at_level("INFO", logger="zoo.evaluate"):
            drawn = plots.confusion_matrix(matrix, [str(i) for i in range(n)], out)
        if n <= plots.MAX_CONFUSION_CLASSES:
            width, height = Image.open(out).size
            assert drawn == out and width * height < 4e6, (width, height)  # not a 104-megapixel image
        else:
            assert drawn is None and not out.exists()
            assert "confusion matrix not drawn: 150 classes" in caplog.text
