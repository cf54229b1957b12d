"""Multi-worker training: 2 workers on loopback via `zoo launch`, against one process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO

import zoo
from zoo.core.errors import ZooError
from zoo.launch.local import cluster_configs
from zoo.training.distributed import is_chief, read_tf_config

# dropout off: replicas draw other masks than one process would, the rest is exact arithmetic
COMMON = ["experiment=mlp_iris", "trainer.epochs=6", "trainer.learning_rate=0.03",
          "model.dropout=0.0", "trainer.plots=false", "trainer.tensorboard=false",
          "trainer.checkpoint_every_seconds=0"]  # the kill test needs a checkpoint every epoch
PER_WORKER_BATCH = 8


class Launch:
    """`zoo launch workers=2 ...` in a subprocess, its output gathered by a thread."""

    def __init__(self, run_dir: Path, scratch: Path, extra: tuple[str, ...] = ()):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch)}
        args = [sys.executable, "-m", "zoo.cli.main", "launch", "workers=2", "timeout=200", *COMMON,
                f"trainer.batch_size={PER_WORKER_BATCH}", *extra, f"hydra.run.dir={run_dir}"]
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def wait(self, timeout: float = 240) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.reader.join(10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def worker_pids(self, timeout: float = 60) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"\[launch\] 2 worker\(s\), pids (\d+) (\d+)", self.output)
            if found:
                return [int(found.group(1)), int(found.group(2))]
            time.sleep(0.1)
        raise AssertionError("launcher printed no worker pids:\n" + self.output[-2000:])


def digests(output: str) -> dict[str, str]:
    return dict(re.findall(r"\[worker (\d)\].*weights sha256 ([0-9a-f]+)", output))


def test_cluster_configs_and_chief():
    configs = cluster_configs(3, ports=[1111, 2222, 3333])
    assert configs[2] == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222", "127.0.0.1:3333"]},
                          "task": {"type": "worker", "index": 2}}
    assert [is_chief(c) for c in configs] == [True, False, False]
    with_chief = {"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}
    assert not is_chief(with_chief)


def test_bad_tf_config_and_missing_cluster_are_one_line_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ZooError, match="TF_CONFIG is not valid JSON"):
        read_tf_config()
    monkeypatch.delenv("TF_CONFIG")
    cfg = zoo.compose(["strategy=multi_worker", *COMMON])
    with pytest.raises(ZooError, match="strategy=multi_worker needs a cluster"):
        zoo.train(cfg, tmp_path / "run")


def test_killed_worker_cluster_resumes_and_matches_one_process(tmp_path):
    """Kill worker 1 mid-run, launch again: the cluster resumes, agrees, and equals one process."""
    (tmp_path / "scratch").mkdir()
    run = tmp_path / "run"
    first = Launch(run, tmp_path / "scratch")
    pids = first.worker_pids()
    state = run / "checkpoints/state.json"
    deadline = time.monotonic() + 150
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 2):
        assert time.monotonic() < deadline and first.proc.poll() is None, first.output[-3000:]
        time.sleep(0.02)
    os.kill(pids[1], signal.SIGKILL)
    assert first.wait(60) != 0
    assert re.search(r"worker [01] exited with code -?\d+: stopping the others", first.output)
    assert not (run / "metrics.json").exists(), "the run ended before the kill"

    second = Launch(run, tmp_path / "scratch")
    assert second.wait() == 0, second.output[-4000:]
    assert re.search(r"\[worker 0\].*resumed from epoch [2-5] of 6", second.output), second.output[-3000:]
    assert re.search(r"\[worker 1\].*resumed from epoch [2-5] of 6", second.output)
    found = digests(second.output)
    assert set(found) == {"0", "1"} and found["0"] == found["1"], second.output[-3000:]
    assert not list((tmp_path / "scratch").glob("zoo-worker-*")), "a worker left its scratch folder"
    chief = json.loads((run / "metrics.json").read_text())
    assert chief["replicas"] == 2 and chief["epochs"] >= 6
    assert chief["test"]["accuracy"] >= 0.7  # iris: chance is 1/3

    single = zoo.train(zoo.compose([*COMMON, f"trainer.batch_size={2 * PER_WORKER_BATCH}"]),
                       tmp_path / "single")
    from zoo.preprocessing.assemble import parts

    _, multi = parts(keras.saving.load_model(run / "model.keras"))  # the network behind its preprocessor
    for a, b in zip(multi.get_weights(), single.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert chief["validation"]["loss"] == pytest.approx(single.metrics["validation"]["loss"], abs=1e-4)
    print(f"2 workers (killed + resumed): val_loss {chief['validation']['loss']:.5f} test acc "
          f"{chief['test']['accuracy']:.4f}; 1 process: val_loss {single.metrics['validation']['loss']:.5f}"
          f" test acc {single.metrics['test']['accuracy']:.4f}")


def test_a_collective_abort_becomes_the_lost_worker_line(monkeypatch, tmp_path):
    """TensorFlow's abort after a peer died -> which worker was lost, the epoch a rerun resumes from, 75."""
    import tensorflow as tf

    from zoo.cli.failures import describe
    from zoo.run.rundir import RunDir
    from zoo.training.distributed import lost_worker

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["n9:12001", "n10:12001"]},
                                                "task": {"type": "worker", "index": 0}}))
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    run.state.write_text(json.dumps({"epoch": 3}))
    cfg = zoo.compose(["strategy=multi_worker", *COMMON])
    abort = tf.errors.UnavailableError(None, None, "Collective ops is aborted by: The tasks have crashed.\n"
                                                   "/job:worker/replica:0/task:1\nmore")
    line, code = describe(lost_worker(cfg, run, abort))
    assert code == 75
    assert line == (f"worker 0 lost worker 1 (n10:12001): the all-reduce was aborted (UnavailableError); "
                    f"rerunning the job (or its own retry) resumes from epoch 3 in {run.path} (exit code 75)")
    assert lost_worker(cfg, run, ValueError("Collective ops is aborted")) is None  # not TensorFlow's
    assert lost_worker(zoo.compose(COMMON), run, abort) is None  # not a multi-worker run


@pytest.mark.alone  # SIGTERM 0.2 s after epoch 1's line must land inside epoch 2: wall time
def test_sigterm_to_one_worker_mid_epoch_saves_one_checkpoint_and_the_rerun_matches(tmp_path):
    """SIGTERM to worker 1 only, inside epoch 2 of 24 steps: both workers stop before the same
    step (they agree by an all-reduce), the chief saves that step, the launcher exits 75; the
    rerun resumes there on both workers and ends equal to one process."""
    from zoo.core.errors import EXIT_PREEMPTED

    (tmp_path / "scratch").mkdir()
    run = tmp_path / "run"
    extra = ("trainer.epochs=3", "trainer.batch_size=2", "trainer.checkpoint_every_seconds=3600")
    first = Launch(run, tmp_path / "scratch", extra)
    pids = first.worker_pids()
    deadline = time.monotonic() + 150
    while not re.search(r"\[worker 1\].*epoch 1/3 ", first.output):
        assert time.monotonic() < deadline and first.proc.poll() is None, first.output[-3000:]
        time.sleep(0.01)
    time.sleep(0.2)  # into epoch 2
    os.kill(pids[1], signal.SIGTERM)
    assert first.wait(60) == EXIT_PREEMPTED, first.output[-3000:]
    assert re.search(r"\[worker 0\].*stopped by SIGTERM: the checkpoint at epoch", first.output), \
        first.output[-3000:]
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert state["epoch"] >= 1 and not (run / "metrics.json").exists()

    second = Launch(run, tmp_path / "scratch", extra)
    assert second.wait() == 0, second.output[-4000:]
    step = f", step {state['step']}" if state.get("step") else ""
    where = f"resumed from epoch {state['epoch']} of 3{step}"
    assert where in second.output and re.search(r"\[worker 1\].*" + where, second.output)
    found = digests(second.output)
    assert set(found) == {"0", "1"} and found["0"] == found["1"], second.output[-3000:]
    single = zoo.train(zoo.compose([*COMMON, *extra[:2], "trainer.batch_size=4"]), tmp_path / "single")
    from zoo.preprocessing.assemble import parts

    _, multi = parts(keras.saving.load_model(run / "model.keras"))
    for a, b in zip(multi.get_weights(), single.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    print(f"SIGTERM saved epoch {state['epoch']} step {state.get('step', 0)}; resumed run equals one process")


@pytest.mark.parametrize("replicas", [1, 2])
def test_two_workers_each_read_their_half_of_a_table_and_train_one_process_s_weights(tmp_path, replicas):
    """A streamed CSV (the diabetes table repeated) under 2 workers of `replicas` logical CPUs each:
    each parses only its byte range (about half the rows), the statistics combined from both halves
    are the same on both, and the final weights and test metrics equal one process's told
    `dataset.shares=2` with the same global batch (a worker's batch cut into one piece per replica)."""
    from test_data_stream import repeated_csv, weights

    data = repeated_csv(tmp_path / "big.csv", 20)  # 8,840 rows
    common = ["model=mlp", "model.hidden_sizes=[16]", "dataset=csv", f"dataset.path={data}",
              "dataset.target=cost", "dataset.stream=true", "dataset.block_bytes=65536",
              "trainer.epochs=3", "trainer.learning_rate=0.01", "trainer.plots=false",
              "trainer.tensorboard=false", "trainer.deterministic=true"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "zoo.cli.main", "launch", "workers=2", "timeout=200",
                           *common, f"trainer.batch_size={32 // replicas}",
                           f"strategy.cpu_devices={replicas}", f"hydra.run.dir={tmp_path / 'multi'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    read = {int(w): int(n.replace(",", "")) for w, n in
            re.findall(r"\[worker (\d)\].*worker \d of 2 holds data share.*?: reads ([\d,]+) of the", out)}
    assert set(read) == {0, 1} and sum(read.values()) == 8840, out[-3000:]
    assert all(0.45 * 8840 < n < 0.55 * 8840 for n in read.values()), read
    stats = dict(re.findall(r"\[worker (\d)\].*preprocessing statistics sha256 ([0-9a-f]+)", out))
    assert set(stats) == {"0", "1"} and stats["0"] == stats["1"], out[-3000:]
    found = digests(out)
    assert set(found) == {"0", "1"} and found["0"] == found["1"], out[-3000:]

    multi = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    single = zoo.train(zoo.compose([*common, "trainer.batch_size=64", "dataset.shares=2"]),
                       tmp_path / "single")
    for a, b in zip(weights(tmp_path / "multi"), weights(tmp_path / "single"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for split in ("test", "validation"):
        for name, value in single.metrics[split].items():
            assert multi[split][name] == pytest.approx(value, rel=1e-4), (split, name)
    assert multi["replicas"] == 2 * replicas
    print(f"2 workers x {replicas} replica(s) read {read} rows; test MAE {multi['test']['mae']:.2f} = "
          f"1 process {single.metrics['test']['mae']:.2f}")
