"""Generate text with an exported causal-LM bundle on onnxruntime and `tokenizers` (no TensorFlow).

A bundle generates when its `export.json` says `outputs.kind = "causal_lm"`: the ONNX graph maps
`token_ids` (int32) and `padding_mask` (bool), both `[batch, time]`, to next-token logits
`[batch, time, vocabulary]`; `outputs.tokenizer` names the bundle's `tokenizer.json`. Where
`outputs.decoding` is `cached`, decoding runs the bundle's key/value-cache graph (`outputs.cache`,
`zoo.runtime.kv_cache`): the prompt once, then one token a step; else each step runs the whole prefix
through the uncached graph (what export chose as faster, for tiny models). Greedy decoding equals
Keras's token for token; sampling draws from a seeded NumPy generator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError, first_line
from zoo.runtime.generation_options import GenerationOptions, cut_at_stop, held_back
from zoo.runtime.kv_cache import CachedDecoder, is_current
from zoo.runtime.text_codec import TextCodec
from zoo.runtime.trust import inside

CAUSAL_LM = "causal_lm"


def next_token(logits: np.ndarray, options: GenerationOptions, rng: np.random.Generator) -> int:
    """Pick the next id from one row of logits as the sampler says (keras-hub's semantics)."""
    if options.sampler == "greedy":
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / options.temperature
    if options.sampler == "top_k":
        k = min(options.top_k, len(z))
        cut = np.partition(z, -k)[-k]
        z = np.where(z >= cut, z, -np.inf)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    if options.sampler == "top_p":
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = order[:int(np.searchsorted(cumulative, options.top_p) + 1)]
        kept = np.zeros_like(probs)
        kept[keep] = probs[keep]
        probs = kept / kept.sum()
    return int(rng.choice(len(probs), p=probs))


def check_language_model(bundle: Any) -> None:
    """A causal-LM bundle's tokenizer parses and fits its graph: every token id the tokenizer can
    give has a row of logits, and the context is usable (a ZooError names what does not agree)."""
    from zoo.runtime.bundle import BundleError

    outputs = bundle.export.outputs
    try:
        context, vocabulary = int(outputs["context_length"]), int(outputs["vocabulary_size"])
        codec = TextCodec(inside(Path(bundle.path), outputs["tokenizer"], "tokenizer"), context)
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - tokenizers' parse errors are plain Exceptions
        raise BundleError(f"{bundle.path}: the language model's tokenizer or export.json cannot be read "
                          f"({first_line(exc, typed=True)}): "
                          "export the run again") from None
    size = codec.tokenizer.get_vocab_size(with_added_tokens=True)
    graph = getattr(bundle.runner, "session", None)
    rows = graph.get_outputs()[0].shape[-1] if graph is not None else vocabulary
    if isinstance(rows, int) and rows != vocabulary:
        raise BundleError(f"{bundle.path}: the graph gives {rows} logits, export.json says a vocabulary "
                          f"of {vocabulary}: export the run again")
    if size > vocabulary or context < 2:
        raise BundleError(f"{bundle.path}: the tokenizer has {size} tokens for a model of {vocabulary} "
                          f"(context {context}): the bundle's tokenizer.json is not the model's; "
                          "export again")


class BundleGenerator:
    """The decoding loop over an ONNX causal-LM bundle."""

    def __init__(self, bundle: Any, decoding: str | None = None):
        outputs = bundle.export.outputs
        if outputs.get("kind") != CAUSAL_LM:
            raise ZooError(f"bundle {bundle.path} ({bundle.export.model}) does not generate text: "
                           "`generate` needs an exported causal language model")
        self.bundle = bundle
        self.context = int(outputs["context_length"])
        self.codec = TextCodec(inside(Path(bundle.path), outputs["tokenizer"], "tokenizer"), self.context)
        self.vocabulary = int(outputs.get("vocabulary_size") or 0)
        self.decoding = decoding or outputs.get("decoding", "uncached")
        if self.decoding not in ("cached", "uncached"):
            raise ZooError(f"decoding={self.decoding!r}: expected cached or uncached")
        self.cached: CachedDecoder | None = None
        if self.decoding == "cached" and outputs.get("cache") and not is_current(outputs["cache"]):
            logging.getLogger("zoo.runtime").warning(
                "bundle %s: its cached decoder is of an older layout; decoding without the cache "
                "(export the run again for cached decoding)", bundle.path)
            self.decoding = "uncached"
        if self.decoding == "cached":
            if not outputs.get("cache"):
                raise ZooError(f"bundle {bundle.path} has no cached decoder: export it again "
                               "(or decode uncached)")
            self.cached = CachedDecoder(Path(bundle.path), outputs["cache"],
                                        getattr(bundle, "trusted", False))

    @classmethod
    def open(cls, path: str | Path, decoding: str | None = None) -> BundleGenerator:
        from zoo.runtime.bundle import load_bundle

        return cls(load_bundle(path), decoding)

    def logits(self, ids: list[int]) -> np.ndarray:
        """Next-token logits after `ids` (one forward pass over the prefix)."""
        tokens = np.asarray([ids], np.int32)
        return self.bundle.runner.run([tokens, np.ones_like(tokens, bool)])[0, -1]

    def start(self, prompt: str, options: GenerationOptions) -> Generation:
        """A generation to iterate (text pieces); its counts and finish reason are set as it runs."""
        return Generation(self, prompt, options)

    def token_ids(self, prompt: str, options: GenerationOptions) -> list[int]:
        """The new token ids of a completion, `<|endoftext|>` excluded (stop strings not applied)."""
        generation = self.start(prompt, options)
        list(generation.tokens())
        return generation.new_ids

    def complete(self, prompts: list[str], options: GenerationOptions) -> list[str]:
        return ["".join(self.start(p, options)) for p in prompts]


class Generation:
    """One prompt's completion. Iterated, it decodes by itself and gives text pieces that end before
    a stop string (pieces that could begin one, or end inside a multi-byte character, are held back
    until settled); a batcher instead feeds it logits (`accept`) and reads pieces (`text_piece`).
    `finish_reason` is `stop` (end of text or a stop string) or `length`."""

    def __init__(self, generator: BundleGenerator, prompt: str, options: GenerationOptions):
        self.generator, self.options = generator, options
        self.ids, self.room = generator.codec.encode(prompt, options.max_new_tokens)
        self.prompt_tokens = len(self.ids) - 1  # the leading <|endoftext|> is not the user's
        self.new_ids: list[int] = []
        self.finish_reason = "length"
        self.done = self.room < 1
        self.rng = np.random.default_rng(options.seed)
        self.sent = ""
        self.text = generator.codec.stream()
        self.past: Any = None  # the row's key/value cache while a batcher decodes it

    @property
    def completion_tokens(self) -> int:
        return len(self.new_ids)

    def accept(self, logits: np.ndarray) -> int | None:
        """Pick the next token from `logits`; None when it ends the text. Sets `done`."""
        token = next_token(logits, self.options, self.rng)
        if token == self.generator.codec.end_id and not self.options.ignore_end:
            self.finish_reason, self.done = "stop", True
            return None
        self.new_ids.append(token)
        self.done = len(self.new_ids) >= self.room
        return token

    def tokens(self) -> Iterator[int]:
        """New token ids, one at a time, until `<|endoftext|>` or `max_new_tokens`."""
        generator, cached = self.generator, self.generator.cached
        if self.done:
            return
        if cached is not None:
            logits, past = cached.prefill(self.ids)
        else:
            logits = generator.logits(self.ids)
        while True:
            token = self.accept(logits)
            if token is None:
                return
            yield token
            if self.done:
                return
            if cached is not None:
                logits = cached.step([token], past)[0]
            else:
                logits = generator.logits(self.ids + self.new_ids)

    def text_piece(self, final: bool = False) -> str:
        """The text settled since the last piece (stop strings applied; `final`: all that is left).
        A stop string found sets `done` and `finish_reason`."""
        stop = self.options.stop
        text, stopped = cut_at_stop(self.text.text_of(self.new_ids, final), stop)
        if stopped:
            self.finish_reason, self.done, final = "stop", True, True
        ready = len(text)
        if not final:
            ready -= held_back(text, stop)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 character
                ready = min(ready, len(text.rstrip("\ufffd")))
        if ready <= len(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):ready], text[:ready]
        return piece

    def __iter__(self) -> Iterator[str]:
        for _ in self.tokens():
            piece = self.text_piece()
            if piece:
                yield piece
            if self.done and self.finish_reason == "stop":
                return
        piece = self.text_piece(final=True)
        if piece:
            yield piece
