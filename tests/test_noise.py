"""Console hygiene: the stderr filter of `zoo.core.console` (TensorFlow's C++ log lines held back, everything
else passed) and when a progress bar may be drawn."""

from __future__ import annotations

import os
import subprocess
import sys

PROGRAM = r"""
import logging, os, sys
from zoo.core.console import drain_to_log, filtering_native_stderr
logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(name)s %(message)s")
with filtering_native_stderr():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1796173803.565886    3988 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"E0000 00:00:1796173806.817021    3988 cuda_platform.cc:52] failed call to cuInit: 303\n")
    print("a python warning", file=sys.stderr, flush=True)
    os.write(2, b"F0000 00:00:1796173806.817021    3988 check.cc:1] a fatal check\n")
print("after", file=sys.stderr)
drain_to_log()
"""


def run(tmp_path, verbose: str) -> tuple[str, str]:
    log = tmp_path / f"train{verbose}.log"
    env = {**os.environ, "ZOO_VERBOSE": verbose}
    proc = subprocess.run([sys.executable, "-c", PROGRAM, str(log)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr, log.read_text()


def test_native_lines_go_to_the_log_and_the_rest_to_stderr_in_order(tmp_path):
    err, log = run(tmp_path, "0")
    fatal = "F0000 00:00:1796173806.817021    3988 check.cc:1] a fatal check"
    assert err.splitlines() == ["a python warning", fatal, "after"]
    held = [line for line in log.splitlines() if line.startswith("tensorflow.native ")]
    assert len(held) == 3 and "cuInit" in held[2] and "oneDNN" in held[1]


def test_verbose_shows_the_native_lines_too(tmp_path):
    err, log = run(tmp_path, "1")
    assert "failed call to cuInit" in err and "oneDNN" in err and "a python warning" in err
    assert "cuInit" in log


class Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_bar_only_on_a_terminal_and_never_in_ci(monkeypatch):
    from zoo.training.progress import on_terminal

    monkeypatch.delenv("CI", raising=False)
    assert on_terminal(Stream(True)) and not on_terminal(Stream(False))
    monkeypatch.setenv("CI", "true")
    assert not on_terminal(Stream(True))


def test_without_a_terminal_the_progress_callback_has_no_batch_hook(monkeypatch):
    """A batch hook would turn off Keras's asynchronous callback dispatch for every run."""
    import keras
    from omegaconf import OmegaConf

    from zoo.training import progress

    def batch_hook(callback) -> bool:
        return type(callback).on_train_batch_end is not keras.callbacks.Callback.on_train_batch_end

    trainer = OmegaConf.create({"verbose": 0})
    monkeypatch.setattr(progress, "on_terminal", lambda stream=None: False)
    (quiet,) = progress.progress_callbacks(trainer)
    assert not batch_hook(quiet)
    monkeypatch.setattr(progress, "on_terminal", lambda stream=None: True)
    (bar,) = progress.progress_callbacks(trainer)
    assert batch_hook(bar)
    (off,) = progress.progress_callbacks(OmegaConf.create({"verbose": 2}))  # trainer.verbose=2: no bar
    assert not batch_hook(off)


def test_the_shared_progress_bar_redraws_in_place_and_wipes_itself_on_a_terminal():
    import io

    from zoo.core.progress import CLEAR_LINE, Progress

    screen, plain = io.StringIO(), io.StringIO()
    with Progress("predict", 300, unit="inputs", bar=True, stream=screen, plain=plain) as progress:
        for _ in range(3):
            progress.advance(100)
    text = screen.getvalue()
    assert text.startswith(CLEAR_LINE + "predict 0/300 [>") and text.endswith(CLEAR_LINE)
    assert "predict 300/300 [" + "=" * 24 + "]" in text and "\n" not in text and not plain.getvalue()
    half = Progress("half", 4, bar=False)
    half.count = 2
    assert half.text(half.start + 10) == "half 2/4 [============>...........] ETA 10s"


def test_off_a_terminal_the_shared_progress_prints_a_start_and_a_done_line(monkeypatch):
    import io

    from zoo.core.progress import Progress

    monkeypatch.setenv("CI", "true")
    out, plain = io.StringIO(), io.StringIO()
    out.isatty = lambda: True  # a terminal, but CI is set: no bar
    with Progress("evaluate test", 3, stream=out, plain=plain) as progress:
        for _ in range(3):
            progress.advance()
    lines = plain.getvalue().splitlines()
    assert not out.getvalue() and len(lines) == 2
    assert lines[0] == "evaluate test: 3 batches"
    assert lines[1].startswith("evaluate test: done, 3 batches in ")
    assert "\r" not in plain.getvalue() and "\x1b" not in plain.getvalue()
