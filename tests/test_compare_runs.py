"""Progress and quiet consoles, then `zoo compare` over three real runs (iris MLP, two epochs each):
one `zoo train` in a pipe, one on a terminal (a pty), and one `zoo.train()` through the Python API."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import read_all, run_zoo

BIN = Path(sys.executable).parent
QUICK = ["experiment=mlp_iris", "trainer.epochs=2", "trainer.tensorboard=false", "trainer.plots=false"]
NATIVE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ ", re.MULTILINE)
EPOCH_LINE = re.compile(r"^\[[\d:]+\]\[zoo\.train\]\[INFO\] epoch (\d)/2 ", re.MULTILINE)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "ZOO_VERBOSE")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2"}


def train_from_python(run_dir: Path) -> str:
    """`zoo.train()` in this process as a program that configured no logging sees it: its stderr."""
    import zoo

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # pytest's own capture handlers, back below
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            zoo.train([*QUICK, "trainer.learning_rate=0.02"], run_dir=run_dir)
    finally:
        root.handlers[:] = saved
    return err.getvalue()


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """The two `zoo train` processes run while this one trains through the Python API."""
    root = tmp_path_factory.mktemp("compare")
    piped = subprocess.Popen([str(BIN / "zoo"), "train", *QUICK, "trainer.verbose=1",
                              f"run_dir={root / 'piped'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=_env())
    leader, follower = pty.openpty()
    terminal = subprocess.Popen([str(BIN / "zoo"), "train", *QUICK, "model.dropout=0.2",
                                 f"run_dir={root / 'terminal'}"], stdout=follower, stderr=follower,
                                env=_env())
    os.close(follower)
    screen: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(leader, screen), daemon=True)
    reader.start()
    texts = {"python": ("", train_from_python(root / "python"))}
    out, err = piped.communicate(timeout=300)
    assert piped.returncode == 0, err.decode(errors="replace")[-3000:]
    texts["piped"] = (out.decode(), err.decode())
    code = terminal.wait(timeout=300)
    reader.join(30)
    os.close(leader)
    texts["terminal"] = (b"".join(screen).decode(errors="replace"), "")
    assert code == 0, texts["terminal"][0][-3000:]
    return root, texts


def test_a_piped_run_prints_plain_lines_without_control_characters(three_runs):
    root, texts = three_runs
    out, err = texts["piped"]
    assert "\r" not in out + err and "\x1b" not in out + err
    assert [int(n) for n in EPOCH_LINE.findall(out)] == [1, 2]  # trainer.verbose=1: no bar glued on


def test_tensorflow_start_up_lines_stay_off_the_console_and_go_to_train_log(three_runs):
    root, texts = three_runs
    out, err = texts["piped"]
    assert not NATIVE.search(err), err
    assert "absl::InitializeLog" not in err and "cuInit" not in err and "oneDNN" not in err
    log = (root / "piped" / "train.log").read_text()
    assert "[tensorflow.native]" in log and "epoch 2/2" in log


def test_zoo_train_from_python_prints_the_epoch_lines(three_runs):
    _, texts = three_runs
    out, err = texts["python"]
    assert "epoch 1/2" in err and "epoch 2/2" in err and "test accuracy" in err
    assert "\r" not in out + err


def test_a_terminal_run_draws_a_bar_and_wipes_it_before_each_epoch_line(three_runs):
    _, texts = three_runs
    screen = texts["terminal"][0]
    assert "step" in screen and "/7" in screen  # Keras's Progbar: 108 examples, batch 16 = 7 steps
    starts = [m.start() for m in re.finditer(r"\[[\d:]+\]\[zoo\.train\]\[INFO\] epoch \d/2 ", screen)]
    assert len(starts) == 2, screen[-2000:]
    for start in starts:  # each epoch line starts a fresh line, or one the bar was wiped from
        assert screen[:start].endswith(("\n", "\x1b[2K")), repr(screen[max(0, start - 200):start + 40])
    assert "\x1b[2K" in screen


def test_compare_tables_three_runs_best_validation_first_and_writes_a_plot(three_runs):
    root, _ = three_runs
    proc = run_zoo("compare", str(root), timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    for column in ("model", "dataset", "epochs", "learning_rate", "validation.accuracy", "test.accuracy",
                   "seconds", "parameters"):
        assert column in header, header
    rows = [dict(zip(header, line.split(), strict=False)) for line in lines[1:4]]
    assert sorted(r["run"] for r in rows) == ["piped", "python", "terminal"]
    for row in rows:
        metrics = json.loads((root / row["run"] / "metrics.json").read_text())
        validation = metrics["validation"]["accuracy"]
        assert float(row["validation.accuracy"]) == pytest.approx(validation, abs=1e-4)
        assert float(row["test.accuracy"]) == pytest.approx(metrics["test"]["accuracy"], abs=1e-4)
        assert row["model"] == "mlp" and row["dataset"] == "iris"
        assert row["parameters"] == f"{4 * 32 + 32 + 32 * 3 + 3}"  # mlp_small: 4 -> 32 -> 3
    scores = [float(r["validation.accuracy"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert "model.dropout" in header and "0.02" in proc.stdout  # the settings that differ
    png = root / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_compare_names_a_folder_without_runs(tmp_path):
    proc = run_zoo("compare", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "no finished run under" in proc.stderr


def test_the_run_folder_records_the_command_line_and_its_overrides(three_runs):
    import yaml

    root, _ = three_runs
    piped = root / "piped" / ".hydra" / "overrides.yaml"
    text = piped.read_text()
    assert text.startswith("# zoo train experiment=mlp_iris trainer.epochs=2 "), text
    assert yaml.safe_load(text) == [*QUICK, "trainer.verbose=1", f"run_dir={root / 'piped'}"]
    python = yaml.safe_load((root / "python" / ".hydra" / "overrides.yaml").read_text())
    assert python == [*QUICK, "trainer.learning_rate=0.02"]


def test_compare_shows_a_dataset_path_that_differs(three_runs, tmp_path):
    from zoo.sweeps.compare import differing_keys, read_run

    root, _ = three_runs
    rows = [read_run(root / "piped"), read_run(root / "python")]
    rows[0].flat["dataset.path"], rows[1].flat["dataset.path"] = "houses_2025.csv", "houses_2026.csv"
    assert "dataset.path" in differing_keys(rows)
