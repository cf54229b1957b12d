"""`zoo`: train, evaluate and list from the command line.

`train` and `evaluate` are Hydra apps (overrides, `--cfg job`, `--help`, `-m` sweeps);
`list` and `--help` answer without importing TensorFlow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zoo.core.errors import close_matches

USAGE = """\
usage: zoo <command> [overrides ...]

Train, evaluate and compare Keras models of any registered family.

commands:
  train      train a model             zoo train experiment=cnn_digits trainer.epochs=3
  evaluate   score a finished run      zoo evaluate run_dir=outputs/2026-01-01/12-00-00
  list       show registered names     zoo list [models|datasets|losses|metrics|modes|plugins|experiments]
  export     make a checked bundle     zoo export run_dir=DIR format=onnx|savedmodel|tflite|keras
  predict    run a bundle on files     zoo predict bundle=DIR input=FILE|DIR output=FILE.csv|.json
  serve      serve models over HTTP    zoo serve bundle=DIR | repository=DIR [port=8501]
  generate   complete text prompts     zoo generate run_dir=DIR|bundle=DIR prompt=TEXT|input=FILE
  launch     start N local workers     zoo launch workers=2 experiment=mlp_iris [train overrides]
  compare    a table of finished runs  zoo compare RUN_DIR RUN_DIR ... | DIR  (writes compare.png)

`zoo COMMAND --help` explains a command; `zoo list models cnn` shows a model's fields.
`--verbose` shows TensorFlow's own start-up and INFO lines (always kept in the run's train.log).
Shell completion: eval "$(zoo --shell-completion install=bash)".

`zoo train --help` lists the config groups and options; `zoo train --cfg job` prints the
composed config; `zoo train -m trainer.learning_rate=1e-3,1e-2` runs a sweep.
"""
COMMANDS = ("train", "evaluate", "list", "export", "predict", "serve", "generate", "launch", "compare")
COMPLETION_FLAGS = ("-sc", "--shell-completion")
# Commands that may start TensorFlow: its C++ log lines are held back from the console (zoo.core.console).
TENSORFLOW_COMMANDS = ("train", "evaluate", "export", "generate", "list")


def fail(message: str, code: int = 2) -> int:
    print(f"zoo: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `zoo` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in args:
        from zoo.core.console import set_verbose

        set_verbose(True)
        args = [arg for arg in args if arg != "--verbose"]
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if args[0] in ("-V", "--version"):
        from zoo.core.version import __version__

        print(f"keras-zoo {__version__}")
        return 0
    from zoo.cli.failures import run_guarded

    if any(arg in COMPLETION_FLAGS for arg in args):
        from zoo.cli.completion import handle

        return run_guarded(lambda: handle(args))
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        matches = close_matches(command, COMMANDS)
        hint = f"did you mean {matches[0]!r}? " if matches else ""
        return fail(f"unknown command {command!r}: {hint}(commands: {', '.join(COMMANDS)}; see zoo --help)")
    if command in TENSORFLOW_COMMANDS:
        from zoo.core.console import filtering_native_stderr

        with filtering_native_stderr():
            return run_guarded(lambda: _run(command, rest))
    return run_guarded(lambda: _run(command, rest))


def _run(command: str, rest: list[str]) -> int:
    if command not in ("train", "evaluate"):
        from zoo.cli.help import command_help, wants_help

        if wants_help(rest):
            print(command_help(command), end="")
            return 0
    if command == "compare":
        from zoo.cli.compare import run_compare

        return run_compare(rest)
    if command == "list":
        from zoo.cli.listing import run_list

        return run_list(rest)
    if command in ("train", "evaluate"):
        from zoo.cli.hydra_apps import run_app

        return run_app(command, rest)
    if command in ("export", "predict", "serve"):
        from zoo.cli.deploy import COMMANDS as DEPLOY_COMMANDS

        return DEPLOY_COMMANDS[command](rest)
    if command == "generate":
        from zoo.cli.generate import run_generate

        return run_generate(rest)
    from zoo.cli.launch import run_launch

    return run_launch(rest)


if __name__ == "__main__":
    sys.exit(main())
