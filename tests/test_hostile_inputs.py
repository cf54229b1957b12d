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
    (("predict", "bundle=b", "input=x.csv", "output=y.csv", "seed=abc"), "seed='abc': expected an integer"),
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


def test_a_failed_job_removes_only_the_empty_folders_hydra_made_for_it(tmp_path, no_tf):
    here = tmp_path / "here"
    here.mkdir()
    proc = run_zoo("evaluate", "run_dir=nope", cwd=here, env=no_tf)
    assert_one_error(proc, 2, "does not exist")
    assert here.is_dir()  # was removed: `zoo evaluate` runs in `.`, taken for a folder Hydra made
    proc = run_zoo("train", *IRIS, "trainer.epochs=0", cwd=here, env=no_tf)
    assert_one_error(proc, 2, "trainer.epochs=0")
    assert not list(here.iterdir())  # outputs/DATE/TIME made by Hydra for the run, and removed
    (here / "outputs").mkdir()
    proc = run_zoo("train", *IRIS, "trainer.epochs=0", "run_dir=runs/a", cwd=here, env=no_tf)
    assert_one_error(proc, 2, "trainer.epochs=0")
    assert [p.name for p in here.iterdir()] == ["outputs"] and not list((here / "outputs").iterdir())
    proc = run_zoo("train", "-m", *IRIS, "run_dir=runs/a", cwd=here, env=no_tf)
    assert_one_error(proc, 2, "run_dir=runs/a names one run folder, but a sweep has many")
    assert [p.name for p in here.iterdir()] == ["outputs"]  # no multirun/ folder either


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


# --- issue 24, data loss: no command writes over what it reads, every file whole or not at all ------
ROWS_HEADER = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"


@pytest.mark.parametrize(("output", "message"), [
    ("prompts.txt", "is the input"),
    ("bundle/completions.jsonl", "lies inside the bundle folder"),
], ids=["input", "new-file-in-bundle"])
def test_generate_never_writes_over_its_prompts_or_a_bundle(trained, tmp_path, output, message, no_tf):
    shutil.copytree(trained / "run/export/onnx", tmp_path / "bundle")
    (tmp_path / "prompts.txt").write_text("Once upon a time\nThe licence says\n")
    before = snapshot(tmp_path)
    proc = run_zoo("generate", f"bundle={tmp_path / 'bundle'}", f"input={tmp_path / 'prompts.txt'}",
                   f"output={tmp_path / output}", env=no_tf)
    assert_one_error(proc, 2, message)
    assert_kept(before, tmp_path)
    assert snapshot(tmp_path) == before


def _file_size_limit(limit: int):
    import resource

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_that_fills_up_leaves_the_previous_output_whole(trained, tmp_path):
    name = "p.csv"
    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS_HEADER + "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n" * 2000)
    (tmp_path / name).write_text("the previous predictions\n")
    zoo = Path(sys.executable).with_name("zoo")
    proc = subprocess.run([str(zoo), "predict", f"bundle={trained / 'run/export/onnx'}", f"input={rows}",
                           f"output={tmp_path / name}"], capture_output=True, text=True, timeout=120,
                          preexec_fn=_file_size_limit(len(rows.read_bytes()) + 1000))
    assert_one_error(proc, 1, str(tmp_path / name))  # the file the user named, not a temporary one
    assert (tmp_path / name).read_text() == "the previous predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["rows.csv", name])  # no temporary left


def test_the_atomic_writer_keeps_the_old_file_on_any_failure(tmp_path):
    from zoo.core.atomic import atomic_open, write_atomic

    target = tmp_path / "out.csv"
    write_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("new, half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "missing-folder" / "out.csv", "x")
    assert caught.value.filename == str(tmp_path / "missing-folder" / "out.csv")
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"


# --- issue 24, non-finite outputs: refused with the row named, never nan or Infinity with exit 0 ---
def test_predict_refuses_rows_whose_outputs_are_not_finite(trained, tmp_path, no_tf):
    from zoo.core.errors import DataError
    from zoo.serving.predict import predict

    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS_HEADER + "5.1,3.5,1.4,0.2\n3.4e38,1,1,3.4e38\n5.1,3.5,1.4,0.2\n-3.4e38,0,0,-3e38\n")
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={rows}",
                   f"output={tmp_path / 'out.csv'}", env=no_tf)
    assert_one_error(proc, 2, "row 2, 4:", "not finite")
    for cells, output in (("3e38,3e38,3e38,3e38", "out.json"), ("-3e38,-3e38,-3e38,-3e38", "out.json"),
                          ("3e38,3e38,3e38,3e38", "out.csv")):
        rows.write_text(ROWS_HEADER + "5.1,3.5,1.4,0.2\n" + cells + "\n")
        with pytest.raises(DataError, match="row 2: the model's outputs are not finite"):
            predict(trained / "run/export/onnx", rows, tmp_path / output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_predict_names_a_csv_cell_beyond_any_limit(trained, tmp_path, no_tf):
    (tmp_path / "rows.csv").write_text(ROWS_HEADER + "5.1,3.5,1.4," + "9" * 200_000 + "\n")
    proc = run_zoo("predict", f"bundle={trained / 'run/export/onnx'}", f"input={tmp_path / 'rows.csv'}",
                   f"output={tmp_path / 'out.csv'}", env=no_tf)
    assert_one_error(proc, 2, "rows.csv")


# --- issue 24, broken files: one line each, never "internal error" --------------------------------
def _meta(bundle: Path) -> dict:
    import json

    return json.loads((bundle / "export.json").read_text())


def _write_meta(bundle: Path, meta) -> None:
    import json

    (bundle / "export.json").write_text(json.dumps(meta))


BUNDLE_DAMAGE = [
    ("truncated", lambda b: (b / "export.json").write_text('{"name": "iris", "inp'), "is not readable JSON"),
    ("list", lambda b: _write_meta(b, []), "export.json must be an object"),
    ("inputs-string", lambda b: _write_meta(b, {**_meta(b), "inputs": "features"}), "inputs must be"),
    ("input-no-name", lambda b: _write_meta(b, {**_meta(b), "inputs": [{"dtype": "float32"}]}), "inputs[0]"),
    ("shape-negative", lambda b: _write_meta(b, {**_meta(b), "inputs": [
        {"name": "features", "dtype": "float32", "shape": [None, -4]}]}), "inputs[0]"),
    ("model-file-number", lambda b: _write_meta(b, {**_meta(b), "model_file": 5}), "model_file must be"),
    ("classes-string", lambda b: _write_meta(b, {**_meta(b), "outputs": {"class_names": "abc"}}),
     "class_names must be a list"),
    ("mean-words", lambda b: _write_meta(b, {**_meta(b), "preprocessing": {"mean": ["a"]}}),
     "preprocessing.mean must be numbers"),
    ("dataset-list", lambda b: (b / "dataset.json").write_text("[]"), "dataset.json holds list"),
    ("model-garbage", lambda b: (b / "model.onnx").write_bytes(b"\x08\x07garbage"), "model.onnx"),
    ("absolute-model-file", lambda b: _write_meta(b, {**_meta(b), "model_file": str(b.parent / "x.onnx")}),
     "points outside the bundle folder"),
    ("parent-model-file", lambda b: _write_meta(b, {**_meta(b), "model_file": "../x.onnx"}),
     "points outside the bundle folder"),
    ("symlinked-model-file", lambda b: ((b / "model.onnx").unlink(), (b / "model.onnx").symlink_to(
        b.parent / "x.onnx")), "points outside the bundle folder"),
    ("tokenizer-outside", lambda b: _write_meta(b, {**_meta(b), "preprocessing": {"text": {
        "tokenizer": "/etc/hostname"}}}), "preprocessing.text.tokenizer '/etc/hostname' points outside"),
]


@pytest.mark.parametrize(("damage", "message"), [c[1:] for c in BUNDLE_DAMAGE],
                         ids=[c[0] for c in BUNDLE_DAMAGE])
def test_a_damaged_or_escaping_bundle_is_one_line_when_opened(trained, tmp_path, damage, message):
    from zoo.core.errors import ZooError
    from zoo.runtime.bundle import load_bundle

    bundle = tmp_path / "bundle"
    shutil.copytree(trained / "run/export/onnx", bundle)
    shutil.copy(bundle / "model.onnx", tmp_path / "x.onnx")  # a model outside the bundle, loadable
    damage(bundle)
    with pytest.raises(ZooError) as caught:
        load_bundle(bundle, trust=True)  # trusting a bundle never lets it name files outside itself
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_predict_and_serve_refuse_a_damaged_bundle_in_one_line(trained, tmp_path, no_tf):
    damage, message = next(c[1:] for c in BUNDLE_DAMAGE if c[0] == "absolute-model-file")
    bundle = tmp_path / "bundle"
    shutil.copytree(trained / "run/export/onnx", bundle)
    shutil.copy(bundle / "model.onnx", tmp_path / "x.onnx")
    damage(bundle)
    for command in (("predict", f"input={trained / 'rows.csv'}", f"output={tmp_path / 'o.csv'}"),
                    ("serve", "port=0")):
        assert_one_error(run_zoo(command[0], f"bundle={bundle}", *command[1:], env=no_tf), 2, message)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("dataset.json", b"[]", "dataset.json is corrupt (it holds list"),
    ("dataset.json", b'{"name": 3, "task": "classification"}', "dataset.json is corrupt (name is 3"),
    ("dataset.json", b'{"name": "iris", "task": "c", "modality": "tabular", "input_shape": "4"}',
     "input_shape is"),
], ids=["list", "wrong-type", "shape-string"])
def test_wrong_types_in_run_files_are_one_line(trained, tmp_path, name, content, message, no_tf):
    from zoo.core.errors import RunDirError
    from zoo.run.rundir import open_finished

    run = copy_run(trained, tmp_path)
    (run / name).write_bytes(content)
    before = snapshot(run)
    with pytest.raises(RunDirError, match=re.escape(message)):
        open_finished(run)  # what zoo evaluate, export and generate open a run with
    if content == b"[]":
        assert_one_error(run_zoo("export", f"run_dir={run}", env=no_tf), 2, message)
    assert_kept(before, run)


def test_compare_leaves_out_broken_runs_with_a_note(trained, tmp_path, no_tf):
    import json

    runs = tmp_path / "runs"
    broken = (("list", []), ("null", None), ("words", {"test": {"accuracy": "hi"}}),
              ("validation-list", {"validation": [1, 2]}))
    for name, metrics in (("good", None), *broken):
        shutil.copytree(trained / "run", runs / name, ignore=shutil.ignore_patterns("checkpoints", "export"))
        if name != "good":
            (runs / name / "metrics.json").write_text(json.dumps(metrics))
    proc = run_zoo("compare", str(runs), f"output={tmp_path / 'c.png'}", env=no_tf)
    assert proc.returncode == 0, proc.stderr
    assert "good" in proc.stdout and (tmp_path / "c.png").is_file()
    notes = [line for line in stderr_lines(proc) if line.startswith("zoo: note: left out")]
    assert len(notes) == 4 and all("metrics.json" in n for n in notes), proc.stderr
    for name in ("list", "null", "words", "validation-list"):
        assert name not in proc.stdout.split("ranked by")[0].replace("runs", "")


# --- issue 24, security: a bundle is code; credentials never echoed ---------------------------------
def _saved_model_with(tmp_path: Path, op: str, marker: Path) -> Path:
    """A SavedModel bundle shaped like the iris one whose signature also touches the host by `op`."""
    import json

    import tensorflow as tf

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, features):
            if op == "write_file":
                tf.io.write_file(str(marker), "written by a bundle")
            elif op == "matching_files":
                features = features + tf.cast(tf.size(tf.io.matching_files("/etc/*")), tf.float32) * 0
            else:
                features = tf.py_function(lambda x: x, [features], tf.float32)
                features.set_shape([None, 4])
            return {"output_0": tf.nn.softmax(features[:, :3])}

    bundle = tmp_path / f"bundle-{op}"
    module = Hostile()
    tf.saved_model.save(module, str(bundle / "model"), signatures={"serving_default": module.serve})
    meta = {"name": "hostile", "format": "savedmodel", "model_file": "model", "task": "classification",
            "modality": "tabular", "inputs": [{"name": "features", "dtype": "float32", "shape": [None, 4]}],
            "outputs": {"kind": "probabilities", "class_names": ["a", "b", "c"]}, "preprocessing": {}}
    (bundle / "export.json").write_text(json.dumps(meta))
    return bundle


@pytest.mark.parametrize(("op", "shown"), [
    ("write_file", "WriteFile"), ("matching_files", "MatchingFiles"), ("py_function", "EagerPyFunc")])
def test_a_savedmodel_that_touches_the_host_is_refused_unless_trusted(trained, tmp_path, op, shown,
                                                                      monkeypatch):
    from zoo.runtime.trust import UntrustedBundle
    from zoo.serving.predict import predict

    marker = tmp_path / "pwned.txt"
    bundle = _saved_model_with(tmp_path, op, marker)
    monkeypatch.delenv("ZOO_TRUST_BUNDLES", raising=False)
    with pytest.raises(UntrustedBundle, match=f"{shown}.*trust=true") as caught:
        predict(bundle, trained / "rows.csv", tmp_path / "out.csv")
    assert "ZOO_TRUST_BUNDLES=1" in str(caught.value)
    assert not marker.exists() and not (tmp_path / "out.csv").exists()
    if op == "write_file":  # trusted: the same graph loads and runs (the scan is what stopped it)
        monkeypatch.setenv("ZOO_TRUST_BUNDLES", "1")
        predict(bundle, trained / "rows.csv", tmp_path / "out.csv")
        assert marker.read_text() == "written by a bundle" and (tmp_path / "out.csv").is_file()


def _tflite_with(tmp_path: Path, op: str, marker: Path) -> Path:
    """A TFLite bundle shaped like the iris one that also writes `marker` (a Flex op, TF's own kernel
    run by the interpreter's Flex delegate) or calls a custom op (`Erfinv`: no TFLite kernel)."""
    import json

    import tensorflow as tf

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, features):
            if op == "write_file":
                tf.io.write_file(str(marker), "written by a bundle")
            else:
                features = tf.math.erfinv(features * 0)
            return {"output_0": tf.nn.softmax(features[:, :3])}

    module = Hostile()
    serve = module.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve], module)
    if op == "write_file":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    else:
        converter.allow_custom_ops = True
    bundle = tmp_path / f"tflite-{op}"
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(converter.convert())
    meta = {"name": "hostile", "format": "tflite", "model_file": "model.tflite", "task": "classification",
            "modality": "tabular", "inputs": [{"name": "features", "dtype": "float32", "shape": [None, 4]}],
            "outputs": {"kind": "probabilities", "class_names": ["a", "b", "c"]}, "preprocessing": {}}
    (bundle / "export.json").write_text(json.dumps(meta))
    return bundle


@pytest.mark.parametrize(("op", "shown"), [("write_file", "FlexWriteFile"), ("custom", "Erfinv")])
def test_a_tflite_model_with_host_or_custom_ops_is_refused_unless_trusted(trained, tmp_path, op, shown,
                                                                         monkeypatch):
    from zoo.core.errors import ZooError
    from zoo.runtime.trust import UntrustedBundle
    from zoo.serving.predict import predict

    marker = tmp_path / "pwned.txt"
    bundle = _tflite_with(tmp_path, op, marker)
    monkeypatch.delenv("ZOO_TRUST_BUNDLES", raising=False)
    with pytest.raises(UntrustedBundle, match=f"TFLite model uses operation.*{shown}.*trust=true"):
        predict(bundle, trained / "rows.csv", tmp_path / "out.csv")
    assert not marker.exists() and not (tmp_path / "out.csv").exists()
    if op == "write_file":  # trusted, the scan lets it through; pip's interpreter has no Flex delegate
        monkeypatch.setenv("ZOO_TRUST_BUNDLES", "1")
        with pytest.raises(ZooError, match="TFLite interpreter cannot prepare.*FlexWriteFile.*format=onnx") \
                as caught:
            predict(bundle, trained / "rows.csv", tmp_path / "out.csv")
        assert not isinstance(caught.value, UntrustedBundle) and not marker.exists()


def test_onnx_custom_domains_and_external_data_outside_are_refused(trained, tmp_path, monkeypatch):
    import onnx

    from zoo.core.errors import ZooError
    from zoo.runtime.bundle import load_bundle
    from zoo.runtime.trust import UntrustedBundle

    monkeypatch.delenv("ZOO_TRUST_BUNDLES", raising=False)
    custom = tmp_path / "custom"
    shutil.copytree(trained / "run/export/onnx", custom)
    graph = onnx.load(str(custom / "model.onnx"))
    graph.graph.node[0].domain = "com.example.hostile"
    graph.opset_import.append(onnx.helper.make_opsetid("com.example.hostile", 1))
    onnx.save(graph, str(custom / "model.onnx"))
    with pytest.raises(UntrustedBundle, match="custom operator domain.*com.example.hostile.*trust=true"):
        load_bundle(custom)
    with pytest.raises(ZooError, match="cannot load model.onnx") as caught:
        load_bundle(custom, trust=True)  # onnxruntime's own refusal, as one line
    assert not isinstance(caught.value, UntrustedBundle)
    outside = tmp_path / "external"
    shutil.copytree(trained / "run/export/onnx", outside)
    graph = onnx.load(str(outside / "model.onnx"))
    onnx.save(graph, str(outside / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    (outside / "weights.bin").rename(tmp_path / "weights.bin")  # the data now lies outside the bundle
    graph = onnx.load(str(outside / "model.onnx"), load_external_data=False)
    for tensor in graph.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../weights.bin"
    (outside / "model.onnx").write_bytes(graph.SerializeToString())
    for trust in (None, True):
        with pytest.raises(ZooError, match="external data of tensor .* points outside the bundle"):
            load_bundle(outside, trust=trust)


def test_a_lambda_layer_is_a_refusal_not_an_internal_error(tmp_path):
    import json

    import keras

    from zoo.cli.failures import describe
    from zoo.runtime.bundle import BundleError, load_bundle

    inputs = keras.Input((4,), name="features")
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    bundle = tmp_path / "lambda"
    bundle.mkdir()
    model.save(bundle / "model.keras")
    (bundle / "export.json").write_text(json.dumps({
        "name": "lambda", "format": "keras", "model_file": "model.keras", "task": "regression",
        "modality": "tabular", "inputs": [{"name": "features", "dtype": "float32", "shape": [None, 4]}],
        "outputs": {"kind": "values"}, "preprocessing": {}}))
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle, trust=True)  # Keras's safe mode refuses the Lambda whatever the trust
    line, code = describe(caught.value)
    assert code == 2 and "cannot load model.keras" in line and "Lambda" in line
    assert "internal error" not in line and "please report" not in line


@pytest.mark.parametrize(("text", "masked"), [
    ("tracking.uri=http://alice:SECRET@host/: refused", "tracking.uri=http://alice:***@host/: refused"),
    ("https://ghp_TOKEN@github.example/x", "https://***@github.example/x"),
    ("postgresql://bob:p%40ss@db:5432/runs and s3://k:SECRET@b", "postgresql://bob:***@db:5432/runs and "
                                                                 "s3://k:***@b"),
    ("a plain path /tmp/x@y and mail@example.com", "a plain path /tmp/x@y and mail@example.com"),
])
def test_credentials_are_masked_in_messages_and_logs(text, masked, caplog, capsys):
    import logging

    from zoo.cli.failures import run_guarded
    from zoo.core.errors import ZooError, mask_credentials, mask_credentials_in_logs

    assert mask_credentials(text) == masked
    mask_credentials_in_logs()
    with caplog.at_level(logging.INFO):
        logging.getLogger("zoo.test").info("connecting to %s", text)
    assert caplog.records[-1].getMessage() == f"connecting to {masked}"
    assert "SECRET" not in caplog.text and "TOKEN" not in caplog.text

    def failing() -> int:
        raise ZooError(text)

    assert run_guarded(failing) == 2
    assert capsys.readouterr().err == f"zoo: error: {masked}\n"


def test_a_password_in_an_override_is_never_echoed(tmp_path, no_tf):
    proc = run_zoo("train", *IRIS, "trainer.epochs=http://alice:SECRET@127.0.0.1:9/", cwd=tmp_path, env=no_tf)
    assert_one_error(proc, 2, "trainer.epochs", "http://alice:***@127.0.0.1:9/")
    assert "SECRET" not in proc.stderr + proc.stdout
