"""The cached decoder of a causal-LM bundle (`outputs.cache` in `export.json`): one ONNX graph for
prefill and decode, rows of different lengths decoded in one batch (no TensorFlow).

The graph (exported by the GPT family) takes `token_ids`, `positions` `[batch, new]`, `attention_mask`
`[batch, slots]` (1 = a real past slot of the row) and per layer `past_key_{i}`, `past_value_{i}`
`[batch, heads, slots, head_dim]`; it gives the last new token's `logits` `[batch, vocabulary]` and
only the new tokens' keys/values, `new_key_values` `[layers, 2, batch, heads, new, head_dim]`.
A `KVCache` owns the buffer: its per-layer views are bound to the graph with onnxruntime IOBinding
(by pointer, no copy) and each step's new keys/values are written into its spare room, which doubles
when full, so a step costs the same whatever the text's length up to the buffer's size, and nothing
copies the growing cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError
from zoo.runtime.runners import OnnxRunner
from zoo.runtime.trust import check_onnx, inside

LAYOUT = "per_layer_buffer"
MIN_ROOM = 32  # slots a fresh buffer has beyond its tokens


def input_names(layers: int) -> list[str]:
    return ["token_ids", "positions", "attention_mask",
            *(f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value"))]


class KVCache:
    """Rows' keys/values in one buffer `[layers, 2, rows, heads, capacity, head_dim]`; row b holds
    `lengths[b]` slots from slot 0 (the rest is spare room, masked)."""

    def __init__(self, data: np.ndarray, lengths: np.ndarray):
        self.data, self.lengths = data, np.asarray(lengths, np.int64)

    @classmethod
    def empty(cls, layers: int, heads: int, head_dim: int, rows: int = 1, capacity: int = 0) -> KVCache:
        data = np.zeros((layers, 2, rows, heads, capacity, head_dim), np.float32)
        return cls(data, np.zeros(rows, np.int64))

    @property
    def rows(self) -> int:
        return self.data.shape[2]

    @property
    def capacity(self) -> int:
        return self.data.shape[4]

    def mask(self) -> np.ndarray:
        return (np.arange(self.capacity)[None] < self.lengths[:, None]).astype(np.int32)

    def write(self, new: np.ndarray) -> None:
        """Append each row's new keys/values `[layers, 2, rows, heads, new, head_dim]` at its length,
        doubling the buffer when it is full."""
        count = new.shape[4]
        need = int(self.lengths.max()) + count
        if need > self.capacity:
            shape = list(self.data.shape)
            shape[4] = max(2 * self.capacity, need + MIN_ROOM)
            grown = np.zeros(shape, np.float32)
            grown[:, :, :, :, :self.capacity] = self.data
            self.data = grown
        for b, n in enumerate(self.lengths):
            self.data[:, :, b, :, n:n + count] = new[:, :, b]
        self.lengths = self.lengths + count

    def select(self, rows: list[int]) -> KVCache:
        """A new cache of these rows (copied)."""
        return KVCache.join([(self, b) for b in rows])

    @classmethod
    def join(cls, rows: list[tuple[KVCache, int]]) -> KVCache:
        """One batch of the given rows (cache, row) in order, copied once into a buffer with room."""
        lengths = np.asarray([cache.lengths[b] for cache, b in rows], np.int64)
        width = int(lengths.max(initial=0)) + MIN_ROOM
        first = rows[0][0].data
        data = np.zeros((*first.shape[:2], len(rows), first.shape[3], width, first.shape[5]), np.float32)
        for row, (cache, b) in enumerate(rows):
            n = int(cache.lengths[b])
            data[:, :, row, :, :n] = cache.data[:, :, b, :, :n]
        return cls(data, lengths)


def is_current(spec: dict[str, Any]) -> bool:
    """Whether a bundle's `outputs.cache` is of the layout this runtime decodes (older exports are
    decoded without the cache)."""
    return bool(spec) and spec.get("layout") == LAYOUT


class CachedDecoder:
    """Prefill a prompt, then decode one token per row per step, the cache bound without copies."""

    def __init__(self, folder: Path, spec: dict[str, Any], trusted: bool = False):
        path = inside(Path(folder), spec.get("file"), "cache.file")
        if not path.is_file():
            raise ZooError(f"the bundle's cached decoder {path} is missing: export the run again")
        self.layers, self.heads, self.head_dim = (int(spec[k]) for k in ("layers", "heads", "head_dim"))
        if spec.get("layout") != LAYOUT:
            raise ZooError(f"{path} is a cached decoder of an older layout ({spec.get('layout', 'concat')}): "
                           "export the run again")
        check_onnx(path, Path(folder), trusted)
        self.runner = OnnxRunner(path, spinning=False)  # see OnnxRunner: 2-3x faster steps under load
        expected = input_names(self.layers)
        if list(self.runner.input_names) != expected:
            raise ZooError(f"{path} takes {self.runner.input_names}, expected {expected}: export again")
        self.session = self.runner.session

    def empty(self, rows: int = 1, capacity: int = 0) -> KVCache:
        return KVCache.empty(self.layers, self.heads, self.head_dim, rows, capacity)

    def run(self, token_ids: np.ndarray, positions: np.ndarray, cache: KVCache) -> np.ndarray:
        """The last new token's logits of each row; the new keys/values are written into `cache`."""
        binding = self.session.io_binding()
        small = {"token_ids": np.ascontiguousarray(token_ids, np.int32),
                 "positions": np.ascontiguousarray(positions, np.int32), "attention_mask": cache.mask()}
        for name, value in small.items():
            binding.bind_cpu_input(name, value)
        data = cache.data
        for i in range(self.layers):
            for j, kind in enumerate(("key", "value")):
                view = data[i, j]  # contiguous [rows, heads, capacity, head_dim]: bound by pointer
                binding.bind_input(f"past_{kind}_{i}", "cpu", 0, np.float32, list(view.shape),
                                   view.__array_interface__["data"][0])
        binding.bind_output("logits")
        binding.bind_output("new_key_values")
        self.session.run_with_iobinding(binding)
        logits, new = binding.copy_outputs_to_cpu()
        cache.write(new)
        return logits

    def prefill(self, ids: list[int]) -> tuple[np.ndarray, KVCache]:
        """The logits after `ids` and the row's cache."""
        cache = self.empty(1, len(ids) + MIN_ROOM)
        tokens = np.asarray([ids], np.int32)
        logits = self.run(tokens, np.arange(len(ids), dtype=np.int32)[None], cache)
        return logits[0], cache

    def step(self, tokens: list[int], cache: KVCache) -> np.ndarray:
        """One new token per row of `cache` (each at its row's next position): logits `[rows, vocabulary]`;
        the cache grows by the tokens' keys/values."""
        return self.run(np.asarray(tokens, np.int32)[:, None], cache.lengths.astype(np.int32)[:, None], cache)
