"""Bash completion of `zoo`: commands, then each command's options (Hydra's own for train/evaluate).

`eval "$(zoo --shell-completion install=bash)"` (or `zoo train --shell-completion install=bash`)
defines `_zoo_completion`; on TAB it calls `zoo -sc query=bash` with the line, which answers
without TensorFlow: the command names, the `key=` options of a command, or Hydra's completion
of config groups and keys for `zoo train`, `zoo evaluate` and `zoo launch`.
"""

from __future__ import annotations

import os

SCRIPT = r"""# bash completion of zoo (Keras Zoo): eval "$(zoo --shell-completion install=bash)"
_zoo_completion()
{
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local line="${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}"
    if [ -z "$COMP_LINE" ]; then
        line="${COMP_WORDS[*]:0:$((COMP_CWORD + 1))}"
    fi
    local choices
    choices=$(COMP_LINE="$line" COMP_POINT="${#line}" "${COMP_WORDS[0]}" -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _zoo_completion zoo
"""
SHELLS = ("bash",)
HYDRA_COMMANDS = ("train", "evaluate")


def handle(args: list[str]) -> int:
    """`-sc install=bash`, `-sc uninstall=bash` or `-sc query=bash` (the first two after any command)."""
    from zoo.core.errors import ZooError

    request = next((a for a in args if "=" in a), "install=bash")
    action, _, shell = request.partition("=")
    if shell not in SHELLS or action not in ("install", "uninstall", "query"):
        raise ZooError(f"--shell-completion {request}: expected install=bash, uninstall=bash or query=bash "
                       "(zsh: run `autoload -U bashcompinit && bashcompinit` first, then install=bash)")
    if action == "install":
        print(SCRIPT, end="")
    elif action == "uninstall":
        print("complete -r zoo 2>/dev/null; unset -f _zoo_completion")
    else:
        print(" ".join(query(os.environ.get("COMP_LINE", ""), os.environ.get("COMP_POINT"))))
    return 0


def query(line: str, point: str | None = None) -> list[str]:
    """Completions of the last word of `line` (cut at `point`), a `zoo ...` command line."""
    from zoo.cli.main import COMMANDS

    if point is not None and point.isdigit():
        line = line[:int(point)]
    words = line.split()
    current = "" if line.endswith(" ") or len(words) < 2 else words[-1]
    done = words[1:] if current == "" else words[1:-1]
    if not done:
        return [c for c in COMMANDS if c.startswith(current)]
    command = done[0]
    if command in (*HYDRA_COMMANDS, "launch"):
        extra = [f"{k}=" for k in ("workers", "timeout")] if command == "launch" else []
        rest = line.split(command, 1)[1]
        return extra + hydra_query("evaluate" if command == "evaluate" else "train", rest)
    if command == "list":
        from zoo.cli.listing import WHAT

        if len(done) == 1:
            return [w for w in WHAT if w.startswith(current)]
        if done[1] == "models":
            from zoo.core.registry import get_registry

            return [n for n in [*get_registry().names("model"), "dataset="] if n.startswith(current)]
        return []
    from zoo.cli.help import command_options

    return [f"{row.key}=" for row in command_options(command) if row.key.startswith(current)]


def hydra_query(command: str, rest: str) -> list[str]:
    """Hydra's completion of `rest` (the words after the command) for a Hydra app."""
    import contextlib
    import io

    from zoo.cli.hydra_apps import run_app

    saved = os.environ.get("COMP_LINE")
    os.environ["COMP_LINE"] = "zoo" + rest
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            run_app(command, ["-sc", "query=bash"])
    except (Exception, SystemExit):  # noqa: BLE001 - a completion never fails the shell
        return []
    finally:
        if saved is None:
            os.environ.pop("COMP_LINE", None)
        else:
            os.environ["COMP_LINE"] = saved
    return out.getvalue().split()
