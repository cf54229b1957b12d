"""Shared test set-up: two logical CPU devices, fresh Hydra state, small helpers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
LOGICAL_CPUS = 2


# Test tiers (docs/contributing.md): `pytest -m unit` is the fast tier a developer runs in about two
# minutes; `-m integration` trains real models; `-m system` runs servers, worker processes and a Slurm
# cluster. CI runs all three. A module not named here is integration until it is shown to be fast.
UNIT_MODULES = {
    "test_architecture", "test_cli", "test_cli_help", "test_cluster_env", "test_config",
    "test_config_fields", "test_cosmetics", "test_data_csv", "test_data_images", "test_data_sources",
    "test_deploy_docs", "test_error_blame", "test_launch_clusters", "test_models", "test_pipeline",
    "test_registry", "test_serving_parts", "test_text_data", "test_file_formats",
}
SYSTEM_MODULES = {"test_serving", "test_hostile_serving", "test_distributed", "test_fault_tolerance",
                  "test_slurm"}


def tier_of(module: str) -> str:
    """unit | integration | system, for a test module's name."""
    if module in UNIT_MODULES:
        return "unit"
    return "system" if module in SYSTEM_MODULES else "integration"


# pytest-xdist (`-n 2 --dist loadfile` in pyproject.toml's addopts) hands out whole modules, so that a
# module's fixtures are built once. These modules share the session's conformance kit (its tiny runs and
# their bundles: `conformance_session` below) and go to one worker together, which builds it once.
CONFORMANCE_MODULES = {"test_conformance", "test_export_text", "test_export_generative", "test_load_model"}
# The slowest modules (or group), slowest first: handed out first, so that the two workers end together
# rather than one of them starting a long module last. Measured under `-n 2`; the order only affects
# how well the workers' loads balance, never what runs.
SLOWEST_FIRST = ["conformance", "test_bert", "test_distributed", "test_export", "test_generative",
                 "test_hostile_inputs", "test_slurm", "test_training", "test_gpt", "test_bert_mlm",
                 "test_end_to_end", "test_lstm", "test_docs_commands", "test_data_stream",
                 "test_checkpointing", "test_raw_inputs", "test_fault_tolerance", "test_privacy",
                 "test_sweep", "test_distill"]


def module_name(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem


def work_unit(module: str) -> str:
    """The pytest-xdist work unit a test module's tests go to a worker in."""
    return "conformance" if module in CONFORMANCE_MODULES else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its module's tier; in a pytest-xdist worker, order the modules slowest
    first (every worker orders them alike; the controller hands them out in that order)."""
    for item in items:
        item.add_marker(tier_of(item.module.__name__.rpartition(".")[2]))
    if hasattr(config, "workerinput"):
        rank = {unit: i for i, unit in enumerate(SLOWEST_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(module_name(item.nodeid)), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`, but with the conformance modules in one work unit and the units handed out in
    the order the workers collected them (slowest first, above) rather than by their number of tests."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(module_name(nodeid))

    config.option.loadscopereorder = False
    return ByModule(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Split the CPU before TensorFlow starts, so MirroredStrategy tests get two replicas (in each
    pytest-xdist worker; the controller that only hands out the tests never imports TensorFlow)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    from zoo.training.strategy import configure_cpu_devices

    configure_cpu_devices(LOGICAL_CPUS)


@contextlib.contextmanager
def _flock(path: Path, mode: int):
    with open(path, "a") as file:
        fcntl.flock(file, mode)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Under pytest-xdist (`-n 2` in pyproject.toml's addopts), a test marked `alone` (it asserts on
    wall time) runs its set-up, call and tear-down while no other worker runs a test: it holds the
    run's lock exclusively, every other test holds it shared. A turnstile (taken before the lock,
    let go once it is held) keeps the other worker's next tests from starving an `alone` test."""
    if not hasattr(item.config, "workerinput"):  # one process: nothing runs beside it
        yield
        return
    shared = item.config._tmp_path_factory.getbasetemp().parent  # the controller's, shared by workers
    alone = item.get_closest_marker("alone") is not None
    with contextlib.ExitStack() as held:
        with _flock(shared / "alone.turnstile", fcntl.LOCK_EX):
            held.enter_context(_flock(shared / "alone.lock", fcntl.LOCK_EX if alone else fcntl.LOCK_SH))
        yield


@pytest.fixture(autouse=True)
def _clean_hydra():
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


def run_zoo(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """Run the installed `zoo` command; returns the completed process (text output)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    zoo = Path(sys.executable).with_name("zoo")
    return subprocess.run([str(zoo), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def read_all(fd: int, into: list[bytes]) -> None:
    """Read a pty until the program on its other side has gone."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal closed: the run ended
            return
        if not chunk:
            return
        into.append(chunk)


def run_zoo_on_a_terminal(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run the installed `zoo` command with stdout and stderr on a pseudo-terminal (`CI` unset);
    returns its exit code and everything it wrote on the terminal."""
    import pty
    import threading

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "ZOO_VERBOSE")}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("zoo")), *args], stdout=follower,
                            stderr=follower, stdin=subprocess.DEVNULL,
                            env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})
    os.close(follower)
    screen: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(leader, screen), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(30)
        os.close(leader)
    return code, b"".join(screen).decode(errors="replace")


class Interrupt(Exception):
    """Stops a training run part-way (see `train_interrupted`)."""


def train_interrupted(cfg, run_dir: Path, monkeypatch: pytest.MonkeyPatch, after_epoch: int = 0) -> None:
    """`zoo.train(cfg, run_dir)` stopped by an exception at the end of epoch `after_epoch` (0-based),
    as a killed process would leave it (checkpoints written, no metrics.json)."""
    import keras

    import zoo
    from zoo.training import callbacks as cb

    original = cb.build_callbacks

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == after_epoch:
                raise Interrupt

    monkeypatch.setattr(cb, "build_callbacks", lambda *a: original(*a) + [Stop()])
    try:
        with pytest.raises(Interrupt):
            zoo.train(cfg, run_dir)
    finally:
        monkeypatch.setattr(cb, "build_callbacks", original)


@pytest.fixture(scope="session")
def conformance_session(tmp_path_factory):
    """The conformance kit of the whole session (`zoo.testing.Conformance`): each model's tiny case
    trained once and each concern checked once, shared by `test_conformance.py`'s per-concern tests
    and the tests that need a tiny trained run and its bundles (BERT, GAN, VAE exports)."""
    from zoo.testing import Conformance

    return Conformance(lambda name: tmp_path_factory.mktemp(f"conformance-{name}"))


@pytest.fixture(scope="session")
def conformance(conformance_session):
    """`conformance(name)`: the kit's report of a model (its training modes left out), its run in
    `report.run_dir` and its bundles in `report.run_dir.parent / "export" / FORMAT`."""
    return lambda name: conformance_session.report(name, modes=False)


LOAD_IN_A_FRESH_PROCESS = """
import sys
import numpy as np
import zoo
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "import zoo imported TensorFlow"
import keras
for run, inputs, out in zip(*[iter(sys.argv[1:])] * 3):
    x = dict(np.load(inputs))
    x = {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in x.items()}
    plain = keras.saving.load_model(run + "/model.keras")  # compile=True: the loss and metrics too
    ours = zoo.load_model(run)
    np.savez(out, plain=np.asarray(plain(x, training=False)), zoo=np.asarray(ours(x, training=False)))
"""


def load_in_a_fresh_process(runs: dict[Path, dict], tmp: Path) -> list[dict]:
    """Each run's `model.keras` loaded in one new Python by plain `keras.saving.load_model` after
    `import zoo` (TensorFlow not imported by it) and by `zoo.load_model`: their outputs on the
    run's inputs (`runs`: run folder -> inputs)."""
    import numpy as np

    command = [sys.executable, "-c", LOAD_IN_A_FRESH_PROCESS]
    for i, (run_dir, inputs) in enumerate(runs.items()):
        np.savez(tmp / f"inputs{i}.npz", **{k: np.asarray(v) for k, v in inputs.items()})
        command += [str(run_dir), str(tmp / f"inputs{i}.npz"), str(tmp / f"outputs{i}.npz")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [dict(np.load(tmp / f"outputs{i}.npz")) for i in range(len(runs))]
