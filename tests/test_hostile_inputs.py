"""Hostile inputs and faults, each tried as a user would: a real `zoo` process per case.

Every case asserts the exit code (2 bad input, 1 failure while working, 130 Ctrl-C), exactly one
`zoo:` line on stderr naming the problem, no traceback, and that every file that existed before
still exists with the same bytes. Most cases fail before TensorFlow is imported: they run with
a `tensorflow` on the path that raises when imported, so an early check that came late fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import run_zoo

TF_NOISE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
IRIS = ("experiment=mlp_iris", "trainer.plots=false", "trainer.tensorboard=false")


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """stderr without TensorFlow's C++ start-up chatter (absl lines that no setting silences)."""
    return [line for line in proc.stderr.splitlines() if line.strip() and not TF_NOISE.match(line)]


def assert_one_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    lines = stderr_lines(proc)
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("zoo: "), lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file's digest (the run lock's PID of its last holder left out: zoo's own to rewrite)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".zoo.lock"}


def assert_kept(before: dict[str, str], folder: Path) -> None:
    after = snapshot(folder)
    lost = [name for name, digest in before.items() if after.get(name) != digest]
    assert not lost, f"changed or deleted: {lost}"


@pytest.fixture(scope="module")
def no_tf(tmp_path_factory) -> dict[str, str]:
    """An environment in which importing TensorFlow fails loudly."""
    root = tmp_path_factory.mktemp("no_tf")
    (root / "tensorflow").mkdir()
    (root / "tensorflow" / "__init__.py").write_text(
        "raise ImportError('TensorFlow imported although the command should have failed first')\n")
    return {"PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}


def train_with_stdout_closed(run: Path, *args: str) -> subprocess.CompletedProcess:
    """`zoo train` whose stdout reader is gone before the first line (as in `zoo train ... | head -1`)."""
    zoo = Path(sys.executable).with_name("zoo")
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([str(zoo), "train", *IRIS, *args, f"run_dir={run}"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=300, cwd=run.parent,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    finally:
        os.close(write)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny finished run (iris, 2 epochs) and its ONNX bundle, shared by the cases below.
    It is trained with stdout closed: a closed pipe costs no logging traceback and no result."""
    root = tmp_path_factory.mktemp("hostile")
    proc = train_with_stdout_closed(root / "run", "trainer.epochs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not stderr_lines(proc), proc.stderr[-3000:]  # no "--- Logging error ---" per epoch
    assert (root / "run" / "metrics.json").exists()
    proc = run_zoo("export", f"run_dir={root / 'run'}", "format=onnx", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (root / "rows.csv").write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
                                   "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    return root


def copy_run(trained: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(trained / "run", target)
    return target


# --- config: every bad setting refused at composition time, before TensorFlow -------------------
CONFIG_CASES = [
    (("trainer.epochs=0",), "trainer.epochs=0 is out of range: expected x >= 1"),
    (("trainer.epochs=-1",), "trainer.epochs=-1"),
    (("trainer.batch_size=0",), "trainer.batch_size=0"),
    (("trainer.batch_size=-4",), "trainer.batch_size=-4"),
    (("trainer.learning_rate=-1",), "trainer.learning_rate=-1.0 is out of range: expected x > 0"),
    (("trainer.learning_rate=0",), "trainer.learning_rate=0"),
    (("trainer.steps_per_epoch=0",), "trainer.steps_per_epoch=0"),
    (("dataset.val_fraction=1.5",), "dataset.val_fraction=1.5 is out of range: expected 0 <= x < 1"),
    (("dataset.test_fraction=-0.1",), "dataset.test_fraction"),
    (("model.dropout=1.0",), "model.dropout=1.0"),
    (("model.hidden_sizes=[8,0]",), "model.hidden_sizes=[8, 0] (value 0)"),
    (("optimizer.beta_1=1.5",), "optimizer.beta_1"),
    (("strategy.cpu_devices=-2",), "strategy.cpu_devices"),
    (("trainer.epoch=3",), "did you mean 'trainer.epochs'"),
    (("+trainer.epoch=3",), "did you mean 'trainer.epochs'"),
    (("modle=mlp",), "did you mean 'model'"),
    (("experiment=mlp_irs",), "unknown experiment 'mlp_irs': did you mean 'mlp_iris'"),
    (("model=mlpp",), "unknown model 'mlpp': did you mean 'mlp'"),
    (("trainer=nope",), "unknown trainer option 'nope'"),
    (("trainer.epochs=abc",), "trainer.epochs"),
    (("trainer.epochs=[",), "cannot parse the command line"),
    (("optimizer.name=adamm",), "did you mean 'adam'"),
]


@pytest.mark.parametrize(("args", "message"), CONFIG_CASES, ids=[c[0][0] for c in CONFIG_CASES])
def test_a_bad_setting_is_one_line_before_tensorflow(args, message, tmp_path, no_tf):
    base = () if any(a.startswith(("experiment=", "model=")) for a in args) else IRIS
    proc = run_zoo("train", *base, *args, cwd=tmp_path, env=no_tf)
    line = assert_one_error(proc, 2, message)
    assert "+trainer" not in line and "HYDRA_FULL_ERROR" not in line  # never a hint to add `+`
    assert not list(tmp_path.iterdir()), "a refused run left a folder behind"


def test_evaluate_settings_are_checked_too(tmp_path, no_tf):
    proc = run_zoo("evaluate", f"run_dir={tmp_path}", "batch_size=0", cwd=tmp_path, env=no_tf)
    assert_one_error(proc, 2, "batch_size=0 is out of range")


OPTION_CASES = [
    (("serve", "bundle=b", "port=70000"), "port=70000 is out of range: expected 0 <= x <= 65535"),
    (("serve", "bundle=b", "port=-1"), "port=-1"),
    (("serve", "bundle=b", "max_batch=0"), "max_batch=0"),
    (("export", "run_dir=r", "opset=3"), "opset=3 is out of range: expected 9 <= x <= 21"),
    (("export", "run_dir=r", "tolerance=0"), "tolerance=0"),
    (("export", "run_dir=r", "max_metric_drop=2"), "max_metric_drop=2"),
    (("launch", "workers=0", *IRIS), "workers=0"),
    (("predict", "bundle=b", "input=x.csv", "output=y.csv", "seed=abc"), "seed='abc': expected a int"),
]


@pytest.mark.parametrize(("args", "message"), OPTION_CASES, ids=[" ".join(c[0][:3]) for c in OPTION_CASES])
def test_a_bad_option_of_the_small_commands_is_one_line(args, message, tmp_path, no_tf):
    assert_one_error(run_zoo(*args, cwd=tmp_path, env=no_tf), 2, message)


# --- predict inputs ------------------------------------------------------------------------------
def test_predict_never_overwrites_its_input(trained, tmp_path, no_tf):
    rows = tmp_path / "rows.csv"
    shutil.copy(trained / "rows.csv", rows)
    before = snapshot(tmp_path)
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={rows}", f"output={rows}",
                   env=no_tf)
    assert_one_error(proc, 2, "is the input")
    assert_kept(before, tmp_path)


@pytest.mark.parametrize("target", ["run/export/onnx/export.json", "run/metrics.json"])
def test_predict_never_overwrites_a_bundle_or_run_file(trained, target, no_tf):
    before = snapshot(trained / "run")
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={trained / 'rows.csv'}",
                   f"output={trained / target}", env=no_tf)
    assert_one_error(proc, 2, "output=")
    assert_kept(before, trained / "run")


PREDICT_INPUTS = [
    ("latin1.csv", b"sepal,width\n\xe9t\xe9,1\n", "is not UTF-8 text (byte 0xe9 at offset 12)"),
    ("empty.csv", b"", "holds no rows"),
    ("narrow.csv", b"a,b\n1,2\n", "has 2 columns, the model takes 4 features"),
    ("words.csv", b"a,b,c,d\n1,x,3,4\n", "x"),
]


@pytest.mark.parametrize(("name", "content", "message"), PREDICT_INPUTS, ids=[c[0] for c in PREDICT_INPUTS])
def test_predict_names_a_bad_input_file(trained, tmp_path, name, content, message, no_tf):
    (tmp_path / name).write_bytes(content)
    before = snapshot(tmp_path)
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={tmp_path / name}",
                   f"output={tmp_path / 'out.csv'}", env=no_tf)
    assert_one_error(proc, 2, message)
    assert_kept(before, tmp_path)
    assert not (tmp_path / "out.csv").exists()


def test_predict_on_a_missing_input_and_bundle(trained, tmp_path, no_tf):
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={tmp_path / 'nope.csv'}",
                   f"output={tmp_path / 'out.csv'}", env=no_tf)
    assert_one_error(proc, 2, "does not exist")
    proc = run_zoo("predict", f"bundle={tmp_path / 'nobundle'}", f"input={trained / 'rows.csv'}",
                   f"output={tmp_path / 'out.csv'}", env=no_tf)
    assert_one_error(proc, 2, "nobundle")


# --- disk: folders that cannot be written ---------------------------------------------------------
def unwritable(tmp_path: Path) -> Path:
    """A folder this process may not write: root ignores modes, so use /sys (a read-only mount)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_predict_into_a_folder_that_cannot_be_written(trained, tmp_path, no_tf):
    out = unwritable(tmp_path) / "predictions.csv"
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={trained / 'rows.csv'}",
                   f"output={out}", env=no_tf)
    assert_one_error(proc, 1, str(out))


def test_train_into_a_folder_that_cannot_be_written(tmp_path, no_tf):
    proc = run_zoo("train", *IRIS, f"run_dir={unwritable(tmp_path) / 'run'}", cwd=tmp_path, env=no_tf)
    assert_one_error(proc, 1, "choose another folder")


def test_train_below_a_file(tmp_path, no_tf):
    (tmp_path / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    proc = run_zoo("train", *IRIS, f"run_dir={tmp_path / 'notes.txt' / 'run'}", cwd=tmp_path, env=no_tf)
    assert_one_error(proc, 1, "not a directory")
    assert_kept(before, tmp_path)


# --- runs: files of a run folder that are missing or corrupt ---------------------------------------
def test_a_finished_run_is_never_replaced_by_a_rerun(trained, tmp_path, no_tf):
    run = copy_run(trained, tmp_path)
    before = snapshot(run)
    proc = run_zoo("train", *IRIS, "trainer.epochs=2", f"run_dir={run}", env=no_tf)
    assert_one_error(proc, 2, "already holds a finished run", "trainer.overwrite=true")
    assert_kept(before, run)


def test_a_corrupt_state_file_is_named_before_any_work(trained, tmp_path, no_tf):
    run = copy_run(trained, tmp_path)
    (run / "metrics.json").unlink()  # an interrupted run...
    (run / "checkpoints" / "state.json").write_text('{"epoch": ')  # ...whose state was damaged
    before = snapshot(run)
    proc = run_zoo("train", *IRIS, "trainer.epochs=2", f"run_dir={run}", env=no_tf)
    assert_one_error(proc, 2, "state.json is corrupt", "trainer.resume=false")
    assert_kept(before, run)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("config.yaml", b"model: [unclosed\n", "config.yaml is corrupt"),
    ("config.yaml", b"just text\n", "is not a zoo train config"),
    ("dataset.json", b'{"name": "iris", ', "dataset.json is corrupt"),
], ids=["config-yaml-syntax", "config-yaml-not-a-config", "dataset-json"])
def test_corrupt_run_files_for_evaluate_and_export(trained, tmp_path, name, content, message, no_tf):
    run = copy_run(trained, tmp_path)
    (run / name).write_bytes(content)
    before = snapshot(run)
    for command in ("evaluate", "export"):
        assert_one_error(run_zoo(command, f"run_dir={run}", env=no_tf), 2, message)
    assert_kept(before, run)


def test_missing_run_folder_and_files(trained, tmp_path, no_tf):
    assert_one_error(run_zoo("evaluate", f"run_dir={tmp_path / 'nope'}", env=no_tf), 2, "does not exist")
    run = copy_run(trained, tmp_path)
    (run / "dataset.json").unlink()
    assert_one_error(run_zoo("export", f"run_dir={run}", env=no_tf), 2, "dataset.json is missing")
    (run / "config.yaml").unlink()
    assert_one_error(run_zoo("evaluate", f"run_dir={run}", env=no_tf), 2, "no config.yaml")


def test_a_truncated_model_file_points_to_the_checkpoints(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    model = run / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    before = snapshot(run)
    proc = run_zoo("evaluate", f"run_dir={run}", "output=" + str(tmp_path / "eval"))
    assert_one_error(proc, 2, "model.keras is corrupt or truncated", "checkpoint=best")
    assert_kept(before, run)


# --- export: never into a user's folder or a run, never half a bundle ------------------------------
def export_refused(trained: Path, output: Path, no_tf: dict, *words: str) -> None:
    proc = run_zoo("export", f"run_dir={trained / 'run'}", f"output={output}", env=no_tf)
    assert_one_error(proc, 2, f"output={output}", *words)


def test_export_refuses_a_folder_holding_the_users_files(trained, tmp_path, no_tf):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("\\section{Results}\n")
    before = snapshot(tmp_path)
    export_refused(trained, tmp_path / "mine", no_tf, "holds files zoo export did not write (thesis.tex)")
    assert_kept(before, tmp_path)


def test_export_refuses_a_file_added_to_one_of_its_bundles(trained, tmp_path, no_tf):
    bundle = tmp_path / "bundle"
    shutil.copytree(trained / "run/export/onnx", bundle)
    (bundle / "notes.md").write_text("my notes\n")
    before = snapshot(tmp_path)
    export_refused(trained, bundle, no_tf, "notes.md")
    assert_kept(before, tmp_path)


@pytest.mark.parametrize(("where", "message"), [
    ("run", "is a run folder"),
    (".", "contains the run folder"),
    ("run/checkpoints", "lies inside the run folder"),
    ("run/plots-of-mine", "lies inside the run folder"),
    ("run/export", "lies inside the run folder"),
    ("run/metrics.json", "is a file"),
], ids=["run", "parent", "checkpoints", "new-folder-in-run", "export-root", "file"])
def test_export_refuses_run_folders(trained, where, message, no_tf):
    before = snapshot(trained / "run")
    export_refused(trained, (trained / where).resolve(), no_tf, message)
    assert_kept(before, trained / "run")


def test_a_failed_export_keeps_the_previous_bundle(trained):
    bundle = trained / "run/export/onnx"
    before = snapshot(bundle)
    proc = run_zoo("export", f"run_dir={trained / 'run'}", "tolerance=1e-30", "max_metric_drop=0")
    assert_one_error(proc, 1, "export check failed", f"the bundle at {bundle} is unchanged")
    assert_kept(before, bundle)
    assert snapshot(bundle) == before  # nothing added either
    assert [p.name for p in bundle.parent.iterdir()] == ["onnx"], "staging folders left behind"


# --- runs: one writer, Ctrl-C, a folder deleted mid-run, partial folders ---------------------------
def start_zoo(*args: str, cwd: Path) -> subprocess.Popen:
    zoo = Path(sys.executable).with_name("zoo")
    return subprocess.Popen([str(zoo), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def wait_for(proc: subprocess.Popen, pattern: str, timeout: float = 120) -> re.Match:
    """Read the process's stdout until a line matches `pattern` (a regular expression); fails with
    what it read if the process ends first or no such line comes within `timeout` seconds (the
    process is then killed, so the read that was blocked on it ends)."""
    seen: list[str] = []
    found: list[re.Match] = []

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                found.append(match)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        reader.join(30)
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f}s; stdout so far: "
                             f"{''.join(seen)[-3000:]}")
    if not found:
        raise AssertionError(f"the process ended (exit {proc.wait(30)}) without a line matching {pattern!r}: "
                             f"{''.join(seen)[-2000:]}{proc.stderr.read()[-3000:]}")
    return found[0]


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_one_writer_per_run_folder_and_a_killed_one_does_not_block_resume(tmp_path, no_tf):
    run = tmp_path / "run"
    args = ("train", *IRIS, "trainer.epochs=400", "trainer.checkpoint_every_seconds=0", f"run_dir={run}")
    first = start_zoo(*args, cwd=tmp_path)
    try:
        wait_for(first, r"\bepoch 2/")
        second = run_zoo(*args, cwd=tmp_path, env=no_tf)  # refused before it imports TensorFlow
        assert_one_error(second, 2, f"run folder {run} is in use", f"PID {first.pid}")
    finally:
        first.kill()  # kill -9: no chance to release anything
        first.wait()
    third = start_zoo(*args, cwd=tmp_path)
    try:
        resumed = int(wait_for(third, r"resumed from epoch (\d+) ").group(1))
        # the resumed run's first epoch line: `fit` runs, the model and its callbacks are in place,
        # so the SIGINT lands in training (sent earlier, during set-up, it was seen lost once)
        wait_for(third, rf"\bepoch {resumed + 1}/400 ")
        third.send_signal(signal.SIGINT)
        done = finish(third)
    finally:
        third.kill()
    line = assert_one_error(done, 130, "interrupted:", "keeps the checkpoint of epoch", "the same command")
    assert "Traceback" not in done.stdout
    assert (run / "checkpoints" / "last.weights.h5").exists() and not (run / "metrics.json").exists()
    assert line.startswith("zoo: interrupted")


def test_a_run_folder_deleted_during_training(tmp_path):
    run = tmp_path / "run"
    proc = start_zoo("train", *IRIS, "trainer.epochs=400", f"run_dir={run}", cwd=tmp_path)
    try:
        wait_for(proc, r"\bepoch 2/")
        shutil.rmtree(run)
        done = finish(proc)
    finally:
        proc.kill()
    assert_one_error(done, 1, str(run))


def test_a_new_run_that_fails_before_its_first_epoch_takes_back_its_folder(tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine\n")
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,a\n")
    before = snapshot(tmp_path)
    for run in (tmp_path / "new", tmp_path / "kept"):
        proc = run_zoo("train", "experiment=mlp_csv_classification", f"dataset.path={data}",
                       "dataset.target=nope", f"run_dir={run}", cwd=tmp_path)
        assert_one_error(proc, 2, "nope")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["notes.txt"]
    assert_kept(before, tmp_path)


def test_a_closed_stdout_pipe_prints_no_logging_traceback(trained):
    """The shared run above was trained with its stdout closed; `zoo list` ends quietly too."""
    assert (trained / "run" / "metrics.json").exists()
    zoo = Path(sys.executable).with_name("zoo")
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([str(zoo), "list", "models"], stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_export_into_a_folder_that_cannot_be_written(trained, tmp_path, no_tf):
    out = unwritable(tmp_path) / "bundle"
    proc = run_zoo("export", f"run_dir={trained / 'run'}", f"output={out}", env=no_tf)
    assert_one_error(proc, 1, str(out.parent))


def test_export_of_a_missing_run_leaves_no_folder(tmp_path, no_tf):
    proc = run_zoo("export", f"run_dir={tmp_path / 'nope'}", env=no_tf)
    assert_one_error(proc, 2, "does not exist")
    assert not list(tmp_path.iterdir())


def test_tracebacks_only_when_asked_for(tmp_path, no_tf):
    plain = run_zoo("train", *IRIS, "trainer.epochs=0", cwd=tmp_path, env=no_tf)
    assert_one_error(plain, 2, "trainer.epochs=0")
    debug = run_zoo("train", *IRIS, "trainer.epochs=0", cwd=tmp_path, env={**no_tf, "ZOO_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "trainer.epochs=0" in debug.stderr


def test_the_python_api_checks_ranges_before_the_run_folder_exists(tmp_path):
    import zoo
    from zoo.core.errors import ZooError

    with pytest.raises(ZooError, match="trainer.batch_size=0 is out of range"):
        zoo.train(["experiment=mlp_iris", "trainer.batch_size=0"], tmp_path / "run")
    assert not (tmp_path / "run").exists()
