"""`zoo generate`: complete prompts with a trained run (keras-hub samplers) or an exported bundle
(onnxruntime, no TensorFlow)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from zoo.cli.options import parse_options
from zoo.config.commands import GenerateOptions
from zoo.core.atomic import refuse_overwrite, write_atomic
from zoo.core.errors import DataError, ZooError

OUTPUT_SUFFIXES = (".jsonl", ".json", ".txt")


def read_prompts(path: Path) -> list[str]:
    """Prompts of a `.txt` file (one a non-empty line) or a `.jsonl` file (`{"prompt": ...}` a line)."""
    from zoo.data.files import read_utf8

    if not path.is_file():
        raise DataError(f"input={path}: no such file (a .txt file with one prompt a line, or .jsonl)")
    lines = [line for line in read_utf8(path).splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return lines
    prompts = []
    for number, line in enumerate(lines, 1):
        try:
            prompts.append(json.loads(line)["prompt"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(f"{path}:{number}: expected a JSON object with a \"prompt\" string") from None
    return prompts


def stop_strings(text: str) -> tuple[str, ...]:
    """`stop=` as one string, or a JSON list of strings (`stop='["\\n", "."]'`)."""
    if not text:
        return ()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ZooError(f"stop={text!r}: not a JSON list of strings ({exc})") from None
        return tuple(value)
    return (text.encode().decode("unicode_escape"),)  # stop=\n means a newline


def check_output(path: Path) -> None:
    if path.suffix not in OUTPUT_SUFFIXES:
        raise ZooError(f"output={path}: expected a file ending in {', '.join(OUTPUT_SUFFIXES)}")


def write_completions(path: Path, prompts: list[str], completions: list[str]) -> None:
    """`{"prompt", "completion"}` records as JSON lines or a JSON list, or prompt + completion lines."""
    check_output(path)
    records = [{"prompt": p, "completion": c} for p, c in zip(prompts, completions, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    elif path.suffix == ".json":
        text = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    else:
        text = "".join(p + c + "\n" for p, c in zip(prompts, completions, strict=True))
    write_atomic(path, text)


def run_generate(args: Sequence[str]) -> int:
    """Print (or write to `output=`) one completion per prompt."""
    from zoo.generation.api import generate
    from zoo.runtime.generation_options import GenerationOptions

    opts = parse_options("generate", GenerateOptions, args)
    if bool(opts.prompt) == bool(opts.input):
        raise ZooError("zoo generate: give prompt=TEXT or input=FILE (one prompt a line), "
                       "not both or neither")
    sampling = {k: getattr(opts, k) for k in ("max_new_tokens", "sampler", "temperature", "top_k", "top_p",
                                              "seed")}
    options = GenerationOptions(**sampling, stop=stop_strings(opts.stop))
    prompts = [opts.prompt] if opts.prompt else read_prompts(Path(opts.input))
    if opts.output:
        check_output(Path(opts.output))
        sources = {"the input": opts.input or None, "the bundle folder": opts.bundle or None}
        refuse_overwrite(opts.output, sources, what="the completions")
    completions = generate(prompts, run_dir=opts.run_dir or None, bundle=opts.bundle or None,
                           checkpoint=opts.checkpoint, options=options)
    ended = [i for i, c in enumerate(completions) if not c]
    if ended:
        import sys

        which = "a stop string or " if options.stop else ""
        print(f"zoo: note: {len(ended)} of {len(prompts)} completion(s) are empty (prompt {ended[0] + 1} "
              f"first): the model ended the text at once ({which}its first new token was <|endoftext|>); "
              "a language model trained one document a line (dataset.documents=lines) learns that "
              "lines end, train with dataset.documents=paragraphs to keep running text", file=sys.stderr)
    if opts.output:
        write_completions(Path(opts.output), prompts, completions)
        print(f"generated {len(completions)} completion(s): {opts.output}")
    else:
        print("\n\n".join(p + c for p, c in zip(prompts, completions, strict=True)))
    return 0
