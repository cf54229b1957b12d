"""How to sample: one validated set of options shared by `zoo generate`, `zoo.generate` and the
OpenAI-compatible completions endpoint. Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.core.errors import ZooError

SAMPLERS = ("greedy", "top_k", "top_p", "random")


@dataclass(frozen=True)
class GenerationOptions:
    """`sampler`: greedy (argmax), top_k (the k likeliest), top_p (nucleus) or random (the full
    softmax), each at `temperature`; `max_new_tokens` after the prompt; generation also ends at
    `<|endoftext|>` or before the first of the `stop` strings; `seed` makes sampling repeatable."""

    max_new_tokens: int = 32
    sampler: str = "greedy"
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 0.9
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_end: bool = False  # decode past <|endoftext|> (vLLM's ignore_eos: benchmarks of N tokens)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ZooError(f"sampler={self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if self.max_new_tokens < 1:
            raise ZooError(f"max_new_tokens={self.max_new_tokens}: generate at least 1 token")
        if not self.temperature > 0:
            raise ZooError(f"temperature={self.temperature}: must be > 0 (use sampler=greedy for argmax)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ZooError(f"seed={self.seed!r}: expected an integer >= 0")
        if self.top_k < 1:
            raise ZooError(f"top_k={self.top_k}: must be at least 1")
        if not 0 < self.top_p <= 1:
            raise ZooError(f"top_p={self.top_p}: must be in (0, 1]")
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
