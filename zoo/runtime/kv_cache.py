"""The cached decoder of a causal-LM bundle (`outputs.cache` in `export.json`): one ONNX graph for
prefill and decode, rows of different lengths decoded in one batch (no TensorFlow).

Inputs `token_ids`, `positions` `[batch, new]`, `attention_mask` `[batch, past + new]` (1 = a real
slot of the row), `past_key_values` `[batch, layers, 2, past, heads, head_dim]`; outputs the last new
token's `logits` `[batch, vocabulary]` and `present_key_values` (past + new slots). A row's cache is
kept unpadded; a batch pads the shorter rows' caches with masked slots for the one step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError
from zoo.runtime.runners import OnnxRunner
from zoo.runtime.trust import check_onnx, inside

INPUTS = ("token_ids", "positions", "attention_mask", "past_key_values")


class CachedDecoder:
    """Prefill a prompt, then decode one token per row per step."""

    def __init__(self, folder: Path, spec: dict[str, Any], trusted: bool = False):
        path = inside(Path(folder), spec.get("file"), "cache.file")
        if not path.is_file():
            raise ZooError(f"the bundle's cached decoder {path} is missing: export the run again")
        check_onnx(path, Path(folder), trusted)
        self.runner = OnnxRunner(path)
        if tuple(self.runner.input_names) != INPUTS:
            raise ZooError(f"{path} takes {self.runner.input_names}, expected {list(INPUTS)}: export again")
        self.layers, self.heads, self.head_dim = (int(spec[k]) for k in ("layers", "heads", "head_dim"))

    def empty(self, batch: int = 1) -> np.ndarray:
        return np.zeros((batch, self.layers, 2, 0, self.heads, self.head_dim), np.float32)

    def run(self, token_ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, past: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
        out = self.runner.run_all([token_ids.astype(np.int32), positions.astype(np.int32),
                                   mask.astype(np.int32), past])
        return out["logits"], out["present_key_values"]

    def prefill(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The logits after `ids` and the row's cache."""
        tokens = np.asarray([ids], np.int32)
        logits, present = self.run(tokens, np.arange(len(ids), dtype=np.int32)[None], np.ones_like(tokens),
                                   self.empty())
        return logits[0], present

    def step(self, tokens: list[int], pasts: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One new token per row (row b's cache `pasts[b]`): logits `[rows, vocabulary]` and each
        row's cache with the token added."""
        lengths = [p.shape[3] for p in pasts]
        longest = max(lengths)
        same = len(set(lengths)) == 1
        if same:
            past = pasts[0] if len(pasts) == 1 else np.concatenate(pasts)
        else:
            past = np.zeros((len(pasts), *pasts[0].shape[1:3], longest, *pasts[0].shape[4:]), np.float32)
            for b, p in enumerate(pasts):
                past[b, :, :, :lengths[b]] = p[0]
        mask = np.zeros((len(pasts), longest + 1), np.int32)
        for b, n in enumerate(lengths):
            mask[b, :n] = 1
        mask[:, longest] = 1
        logits, present = self.run(np.asarray(tokens, np.int32)[:, None],
                                   np.asarray(lengths, np.int32)[:, None], mask, past)
        if same:
            return logits, [present[b:b + 1] for b in range(len(pasts))]
        return logits, [np.concatenate([p, present[b:b + 1, :, :, longest:]], axis=3)
                        for b, p in enumerate(pasts)]
