"""Generate text with an exported causal-LM bundle on onnxruntime and `tokenizers` (no TensorFlow).

A bundle generates when its `export.json` says `outputs.kind = "causal_lm"`: the ONNX graph maps
`token_ids` (int32) and `padding_mask` (bool), both `[batch, time]`, to next-token logits
`[batch, time, vocabulary]`; `outputs.tokenizer` names the bundle's `tokenizer.json`. There is no
key/value cache: each step runs the whole prefix (cheap at the context lengths of tiny..small GPTs).
Greedy decoding equals Keras's token for token; sampling draws from a seeded NumPy generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError
from zoo.runtime.generation_options import GenerationOptions, cut_at_stop, held_back
from zoo.runtime.text_codec import TextCodec

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


class BundleGenerator:
    """The decoding loop over an ONNX causal-LM bundle."""

    def __init__(self, bundle: Any):
        outputs = bundle.meta.get("outputs", {})
        if outputs.get("kind") != CAUSAL_LM:
            raise ZooError(f"bundle {bundle.path} ({bundle.meta.get('model')}) does not generate text: "
                           "`generate` needs an exported causal language model")
        self.bundle = bundle
        self.codec = TextCodec(Path(bundle.path) / outputs["tokenizer"], int(outputs["context_length"]))

    @classmethod
    def open(cls, path: str | Path) -> BundleGenerator:
        from zoo.runtime.bundle import load_bundle

        return cls(load_bundle(path))

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
    """One prompt's completion, produced as it is iterated: text pieces that end before a stop
    string (pieces that could begin one, or end inside a multi-byte character, are held back until
    settled). Afterwards `finish_reason` is `stop` (end of text or a stop string) or `length`."""

    def __init__(self, generator: BundleGenerator, prompt: str, options: GenerationOptions):
        self.generator, self.options = generator, options
        self.ids, self.room = generator.codec.encode(prompt, options.max_new_tokens)
        self.prompt_tokens = len(self.ids) - 1  # the leading <|endoftext|> is not the user's
        self.new_ids: list[int] = []
        self.finish_reason = "length"

    @property
    def completion_tokens(self) -> int:
        return len(self.new_ids)

    def tokens(self) -> Iterator[int]:
        """New token ids, one at a time, until `<|endoftext|>` or `max_new_tokens`."""
        rng = np.random.default_rng(self.options.seed)
        ids = list(self.ids)
        for _ in range(self.room):
            token = next_token(self.generator.logits(ids), self.options, rng)
            if token == self.generator.codec.end_id:
                self.finish_reason = "stop"
                return
            ids.append(token)
            self.new_ids.append(token)
            yield token

    def __iter__(self) -> Iterator[str]:
        stop, decode = self.options.stop, self.generator.codec.decode
        sent = ""
        for _ in self.tokens():
            text, stopped = cut_at_stop(decode(self.new_ids), stop)
            if stopped:
                self.finish_reason = "stop"
                if len(text) > len(sent):
                    yield text[len(sent):]
                return
            ready = len(text) - held_back(text, stop)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 character
                ready = min(ready, len(text.rstrip("\ufffd")))
            if ready > len(sent):
                yield text[len(sent):ready]
                sent = text[:ready]
        text = cut_at_stop(decode(self.new_ids), stop)[0]
        if len(text) > len(sent):
            yield text[len(sent):]
