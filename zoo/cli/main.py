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
  list       show registered names     zoo list [models|datasets|losses|metrics|plugins|experiments]
  export     make a checked bundle     zoo export run_dir=DIR format=onnx|savedmodel|tflite|keras
  predict    run a bundle on files     zoo predict bundle=DIR input=FILE|DIR output=FILE.csv|.json
  serve      serve models over HTTP    zoo serve bundle=DIR | repository=DIR [port=8501]
  generate   complete text prompts     zoo generate run_dir=DIR|bundle=DIR prompt=TEXT|input=FILE
  launch     start N local workers     zoo launch workers=2 experiment=mlp_iris [train overrides]

`zoo train --help` lists the config groups and options; `zoo train --cfg job` prints the
composed config; `zoo train -m trainer.learning_rate=1e-3,1e-2` runs a sweep.
"""
COMMANDS = ("train", "evaluate", "list", "export", "predict", "serve", "generate", "launch")


def fail(message: str, code: int = 2) -> int:
    print(f"zoo: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `zoo` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if args[0] in ("-V", "--version"):
        from zoo.core.version import __version__

        print(f"keras-zoo {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        matches = close_matches(command, COMMANDS)
        hint = f"did you mean {matches[0]!r}? " if matches else ""
        return fail(f"unknown command {command!r}: {hint}(commands: {', '.join(COMMANDS)}; see zoo --help)")
    from zoo.cli.failures import run_guarded

    return run_guarded(lambda: _run(command, rest))


def _run(command: str, rest: list[str]) -> int:
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
