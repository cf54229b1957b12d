"""Typed, versioned files: `export.json`, `dataset.json` and a run's `state.json` carry their format
and the zoo version; the files zoo 0.1.0 wrote without a version (tests/data/zoo-0.1.0) load as
format 1; a newer format is refused in one line naming both versions and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zoo.core.formats import FormatError
from zoo.core.version import __version__
from zoo.data.base import DATASET_FORMAT, DatasetInfo, Scaling, TextFacts
from zoo.run.rundir import RunDir, open_finished
from zoo.run.state import STATE_FORMAT, RunState
from zoo.runtime.bundle import load_bundle
from zoo.runtime.export_meta import EXPORT_FORMAT, ExportMeta

OLD = Path(__file__).parent / "data" / "zoo-0.1.0"


def old_json(name: str) -> dict:
    return json.loads((OLD / name).read_text())


def test_a_gpt_dataset_json_of_zoo_0_1_0_gives_its_tokenizer_facts_typed():
    old = old_json("gpt_dataset.json")["extra"]
    info = DatasetInfo.load(OLD / "gpt_dataset.json")
    assert info.text == TextFacts(pairs=False, vocabulary_size=old["vocabulary_size"],
                                  tokenizer=old["tokenizer"], end_token_id=old["end_token_id"],
                                  inputs=old["inputs"], tokens=old["tokens"])
    assert info.extra == {"path": old["path"], "documents": old["documents"]}  # notes only
    assert info.scaling is None and info.worker_train_rows is None


def test_a_gan_dataset_json_of_zoo_0_1_0_gives_its_min_max_scale_as_scaling():
    old = old_json("gan_dataset.json")
    info = DatasetInfo.load(OLD / "gan_dataset.json")
    assert info.scaling == Scaling(offset=old["mean"], scale=old["std"],
                                   value_range=old["extra"]["value_range"])
    assert info.extra == {"source": "sklearn.datasets.load_digits"} and info.text == TextFacts()


def test_dataset_json_is_written_versioned_and_reads_back_equal(tmp_path):
    for name in ("gpt_dataset.json", "gan_dataset.json"):
        info = DatasetInfo.load(OLD / name)
        info.save(tmp_path / name)
        data = json.loads((tmp_path / name).read_text())
        assert (data["format_version"], data["zoo_version"]) == (DATASET_FORMAT, __version__)
        assert "mean" not in data and not {"value_range", "vocabulary_size"} & set(data["extra"])
        assert DatasetInfo.load(tmp_path / name) == info
        assert DatasetInfo.from_dict(info.to_dict()) == info  # an in-memory copy (a distilled teacher's)
        assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary file, renamed over


def test_a_run_state_of_zoo_0_1_0_loads_and_is_written_back_versioned(tmp_path):
    old = old_json("mlp_run/checkpoints/state.json")
    run = RunDir(tmp_path)
    run.checkpoints.mkdir()
    shutil.copy(OLD / "mlp_run/checkpoints/state.json", run.state)
    state = run.read_state()
    assert state == RunState(epoch=2, previous_epoch=None, monitor="val_loss", best=old["best"])
    state.step, state.seeds = 3, [[1, 2]]
    run.write_state(state)
    assert json.loads(run.state.read_text()) == {"format_version": STATE_FORMAT, "zoo_version": __version__,
                                                 **old, "step": 3, "seeds": [[1, 2]]}
    assert run.read_state() == state


def test_a_run_folder_of_zoo_0_1_0_opens():
    run, cfg = open_finished(OLD / "mlp_run")
    assert cfg.model.name == "mlp" and DatasetInfo.load(run.dataset_info).features[0]["name"] == "features"


def test_a_bundle_of_zoo_0_1_0_opens_typed_and_classifies_iris():
    from sklearn.datasets import load_iris

    old = old_json("mlp_bundle/export.json")
    bundle = load_bundle(OLD / "mlp_bundle", trust=False)
    assert bundle.export == ExportMeta(**old) and bundle.export.to_dict()["format_version"] == EXPORT_FORMAT
    x, y = load_iris(return_X_y=True)
    labels = bundle.labels(bundle.predict([x.astype("float32")]))
    accuracy = sum(a == bundle.class_names[b] for a, b in zip(labels, y, strict=True)) / len(y)
    assert accuracy > 0.6  # three balanced classes: guessing gets 1/3


def newer(path: Path, version: int) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format_version": version + 1, "zoo_version": "9.0.0"}))


def test_newer_formats_are_refused_in_one_line_with_the_versions_and_the_fix(tmp_path):
    expected = ("written by zoo 9.0.0, format {}; this zoo \\(" + __version__
                + "\\) reads up to format {}: upgrade")
    run = tmp_path / "run"
    shutil.copytree(OLD / "mlp_run", run)
    newer(run / "dataset.json", DATASET_FORMAT)
    with pytest.raises(FormatError, match=expected.format(DATASET_FORMAT + 1, DATASET_FORMAT)) as error:
        open_finished(run)
    assert str(run / "dataset.json") in str(error.value) and "\n" not in str(error.value)
    newer(run / "checkpoints/state.json", STATE_FORMAT)
    with pytest.raises(FormatError, match=expected.format(STATE_FORMAT + 1, STATE_FORMAT)):
        RunDir(run).read_state()
    bundle = tmp_path / "bundle"
    shutil.copytree(OLD / "mlp_bundle", bundle)
    newer(bundle / "export.json", EXPORT_FORMAT)
    with pytest.raises(FormatError, match=expected.format(EXPORT_FORMAT + 1, EXPORT_FORMAT)):
        load_bundle(bundle, trust=False)


def test_a_damaged_format_version_is_named_as_damage(tmp_path):
    shutil.copy(OLD / "gan_dataset.json", tmp_path / "dataset.json")
    data = json.loads((tmp_path / "dataset.json").read_text())
    (tmp_path / "dataset.json").write_text(json.dumps({**data, "format_version": "two"}))
    with pytest.raises(FormatError, match='format_version is "two", not a positive integer'):
        DatasetInfo.load(tmp_path / "dataset.json")


def test_nothing_in_zoo_or_the_families_reads_a_fact_back_from_extra():
    """`DatasetInfo.extra` holds notes for people; what code reads back is a typed field."""
    import re

    root = Path(__file__).parent.parent
    reads = re.compile(r"\.extra\.get\(|\.extra\[[^\]]+\](?!\s*=[^=])")
    sources = [path for folder in ("zoo", "plugins") for path in (root / folder).rglob("*.py")]
    found = [f"{path.relative_to(root)}:{n}" for path in sources
             for n, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert found == []
