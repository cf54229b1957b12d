"""How to sample: one validated set of options shared by `zoo generate`, `zoo.generate` and the
OpenAI-compatible completions endpoint. Imports nothing heavy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from zoo.config.bounds import bounds_of, choices_of, out_of_range
from zoo.config.commands import GenerateOptions
from zoo.core.errors import ZooError

SAMPLERS = choices_of(GenerateOptions, "sampler")
RANGES = {f.name: bounds_of(f) for f in dataclasses.fields(GenerateOptions) if bounds_of(f) is not None}


@dataclass(frozen=True)
class GenerationOptions:
    """`sampler`: greedy (argmax), top_k (the k likeliest), top_p (nucleus) or random (the full
    softmax), each at `temperature`; `max_new_tokens` after the prompt; generation also ends at
    `<|endoftext|>` or before the first of the `stop` strings; `seed` makes sampling repeatable.
    Choices and ranges are `zoo generate`'s (`zoo.config.commands.GenerateOptions`)."""

    max_new_tokens: int = GenerateOptions.max_new_tokens
    sampler: str = GenerateOptions.sampler
    temperature: float = GenerateOptions.temperature
    top_k: int = GenerateOptions.top_k
    top_p: float = GenerateOptions.top_p
    seed: int = GenerateOptions.seed
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_end: bool = False  # decode past <|endoftext|> (vLLM's ignore_eos: benchmarks of N tokens)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ZooError(f"sampler={self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ZooError(f"seed={self.seed!r}: expected an integer >= 0")
        for name, bounds in RANGES.items():
            value = getattr(self, name)
            if out_of_range(value, bounds) is not None:
                hint = " (use sampler=greedy for argmax)" if name == "temperature" else ""
                raise ZooError(f"{name}={value} is out of range: expected {bounds.text()}{hint}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ZooError(f"stop={list(self.stop)!r}: stop sequences must be non-empty strings")
        object.__setattr__(self, "stop", tuple(self.stop))


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to (not including) the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


def held_back(text: str, stop: tuple[str, ...]) -> int:
    """How many trailing characters could begin a stop string (a stream must not emit them yet)."""
    longest = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:n]):
                longest = max(longest, n)
                break
    return longest
