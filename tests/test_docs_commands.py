"""Every `zoo ...` command line in README.md and docs/*.md, as written, works.

Each line in a code block is either run for real, in-process on small real data this test writes
(few steps: the quick overrides are appended, after the line's own), or composed and validated
exactly as the command would before any work (config composition, schema, names and ranges for
`train`/`evaluate`/`launch`; the option parser for `export`/`predict`/`generate`/`compare`). Lines
that need a server (`zoo serve`), a cluster or a GPU, or another test already runs, are validated
only. `$ zoo ...` lines followed by an error are run, and the error shown must be the one printed.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from zoo.cli.failures import extra_line
from zoo.cli.main import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Lines in code blocks that start with `zoo ` but are not commands to run (why).
NOT_COMMANDS = [  # (page, a part of the line): why
    ("docs/architecture.md", "zoo/cli/main.py"),  # the first line of a diagram (command -> module)
]
# Placeholders the pages use for the user's own folders, and the real ones of this test.
PLACEHOLDERS = {"GAN_RUN": "runs/gan", "VAE_RUN": "runs/vae", "RUN": "runs/gpt", "DIR": "data",
                "$Q": "", "[H]": "[16]"}
QUICK = ("trainer.epochs=1", "trainer.steps_per_epoch=2", "trainer.plots=false",
         "trainer.tensorboard=false")
# Run for real, in this order (the GPT line once failed as written): (page, start of the line).
RUN = [
    ("README.md", "zoo train experiment=gpt_text_lines"),
    ("README.md", "zoo generate run_dir=runs/gpt"),
    ("docs/generation.md", "zoo export run_dir=runs/gpt"),
    ("docs/generation.md", "zoo generate bundle=runs/gpt/export/onnx"),
    ("README.md", "zoo list"),
    ("README.md", "zoo export --help"),
    ("docs/quickstart.md", "zoo train --cfg job"),
    ("docs/quickstart.md", "zoo train model=mlp --help"),
]


@dataclass
class Line:
    page: str
    number: int
    text: str  # as written (continuation lines joined)
    output: list[str]  # for `$ zoo ...`: the lines shown after it
    example: bool = False  # written `$ zoo ...`, with its output below

    @property
    def argv(self) -> list[str]:
        text = self.text
        for name, value in PLACEHOLDERS.items():
            text = re.sub(rf"(?<![\w/]){re.escape(name)}(?![\w])", value, text)
        # as bash expands `key=~/x`
        return [re.sub(r"=~/", f"={Path.home()}/", arg) for arg in shlex.split(text, comments=True)[1:]]

    def __str__(self) -> str:
        return f"{self.page}:{self.number}: {self.text}"


def command_lines() -> Iterator[Line]:
    for path in PAGES:
        page = str(path.relative_to(REPO))
        in_block, current = False, None
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if line.startswith("```"):
                in_block, current = not in_block, None
                continue
            if not in_block:
                continue
            if current is not None and current.text.endswith("\\"):
                current.text = current.text[:-1].rstrip() + " " + line
                continue
            example = line.startswith("$ ")
            shown = line[2:] if example else line
            words = shown.split()
            if len(words) > 1 and words[0] == "zoo" and words[1] in COMMANDS:
                current = Line(page, number, shown, [], example)
                if not any(page == p and marker in shown for p, marker in NOT_COMMANDS):
                    yield current
            elif current is not None and current.example and line and not example:
                current.output.append(line)


LINES = list(command_lines())


def _once(lines: list[Line]) -> list[Line]:
    """The first of the lines with the same arguments (`zoo train --help` is on two pages)."""
    seen: set[tuple[str, ...]] = set()
    return [line for line in lines if not (tuple(line.argv) in seen or seen.add(tuple(line.argv)))]


def _is_run(line: Line) -> bool:
    return any(line.page == page and line.text.startswith(start) and
               (start != "zoo list" or line.text.split("#")[0].strip() == "zoo list")
               for page, start in RUN)


def _first_of_sweeps(args: list[str]) -> list[str]:
    """A multirun's first job: `key=a,b` -> `key=a`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for arg in args:
        override = parser.parse_override(arg)
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            arg = f"{override.get_key_element()}={first}"
        out.append(arg)
    return out


def validate(argv: list[str]) -> None:
    """Everything the command checks before it starts work (no TensorFlow)."""
    from zoo.cli.options import parse_options, split_options
    from zoo.config.commands import COMMAND_OPTIONS, LaunchOptions

    command, args = argv[0], argv[1:]
    if {"--cfg", "--help", "-h"} & set(args) or command == "list":  # cheap and TensorFlow-free: run
        assert main(argv) == 0
    elif command in ("train", "launch", "evaluate"):
        from zoo.config.compose import compose
        from zoo.config.validate import check_evaluate_config, check_missing, check_train_config
        from zoo.core.registry import get_registry
        from zoo.training.trainer import check_names

        if command == "launch":
            args = split_options(command, LaunchOptions, args)[1]
        overrides = _first_of_sweeps([a for a in args if a != "-m"])
        GlobalHydra.instance().clear()
        try:
            cfg = compose(overrides, config_name="evaluate" if command == "evaluate" else "train")
        except MissingConfigException as exc:  # an option of an extra that is not installed:
            assert extra_line(exc), exc  # the one line says which extra to install
            return
        check_missing(cfg)
        if command == "evaluate":
            check_evaluate_config(cfg)
        else:
            check_names(cfg)
            check_train_config(cfg, get_registry())
    elif command in ("export", "predict", "serve", "generate"):
        parse_options(command, COMMAND_OPTIONS[command], args)
    elif command == "compare":
        parse_options(command, COMMAND_OPTIONS[command], [a for a in args if "=" in a])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Small real data under the names the pages use: docstring paragraphs as the text to learn."""
    from zoo.testing.data import TOPICS, docstrings

    root = tmp_path_factory.mktemp("docs")
    paragraphs = [p for modules in TOPICS.values() for p in docstrings(modules)]
    (root / "corpus.txt").write_text("\n".join(paragraphs[:400]) + "\n", encoding="utf-8")
    return root


def test_the_pages_hold_the_lines_this_test_runs():
    assert len(LINES) > 80, len(LINES)
    for page, start in RUN:
        assert any(line.page == page and line.text.startswith(start) for line in LINES), (page, start)


@pytest.fixture
def users_files_unchecked(monkeypatch):
    """The pages name the user's own files (houses.csv, photos/): validation leaves their existence
    unchecked (the runs above check a real one)."""
    monkeypatch.setattr("zoo.config.validate.missing_path", lambda value, item: None)


@pytest.mark.parametrize("line", _once([line for line in LINES if not line.output and not _is_run(line)
                                         and not any(line.argv == x.argv for x in LINES if _is_run(x))]),
                         ids=str)
def test_a_documented_command_line_is_valid_as_written(line, workspace, monkeypatch, users_files_unchecked):
    monkeypatch.chdir(workspace)
    validate(line.argv)


@pytest.mark.parametrize("line", [line for line in LINES if line.output], ids=str)
def test_a_documented_error_is_the_one_printed(line, workspace, monkeypatch, capsys, users_files_unchecked):
    monkeypatch.chdir(workspace)
    if not line.output[0].startswith("zoo: error: "):  # the output of a run: validated
        validate(line.argv)
        return
    code = main(line.argv)
    err = capsys.readouterr().err.strip()
    assert (code, err) == (2, line.output[0]), str(line)


def test_the_documented_runs_work_in_order(workspace, monkeypatch, capsys):
    """The GPT lines (train, generate, export, generate from the bundle) and the cheap ones, for real."""
    monkeypatch.chdir(workspace)
    for page, start in RUN:
        line = next(x for x in LINES if x.page == page and x.text.startswith(start) and _is_run(x))
        argv = line.argv + (list(QUICK) if line.argv[0] == "train" and "--cfg" not in line.argv
                            and "--help" not in line.argv else [])
        GlobalHydra.instance().clear()
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{line}\n{err[-2000:]}"
        if line.argv[0] == "generate":
            assert out.strip().startswith(line.argv[line.argv.index(next(a for a in line.argv if
                                          a.startswith("prompt=")))][len("prompt="):]), out
    bundle = json.loads((workspace / "runs/gpt/export/onnx/export.json").read_text())
    assert bundle["name"] == "gpt_corpus"  # as `zoo export --help` says: <model>_<dataset>
    assert main(["export", "--help"]) == 0
    assert "<model>_<dataset>" in capsys.readouterr().out


def test_the_plugin_guide_imports_only_the_sdk_and_names_only_what_it_has():
    import zoo.sdk

    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    imports = re.findall(r"^\s*from (zoo[\w.]*) import", text, re.MULTILINE)
    assert imports and set(imports) <= {"zoo.sdk", "zoo.testing"}, imports  # the kit: in a plugin's tests
    named = set(re.findall(r"zoo\.sdk\.(\w+)", text))
    named |= {n.strip() for line in re.findall(r"^from zoo\.sdk import (.+)$", text, re.MULTILINE)
              for n in line.split(",")}
    assert named and not [n for n in named if not hasattr(zoo.sdk, n)], named
