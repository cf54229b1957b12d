"""Prompts to token ids and ids back to text with a bundle's or run's `tokenizer.json`
(Hugging Face `tokenizers`, no TensorFlow): the same byte-level BPE the model was trained with."""

from __future__ import annotations

from pathlib import Path

from zoo.core.errors import ZooError

END_OF_TEXT = "<|endoftext|>"


class TextCodec:
    """Encode prompts as the model saw documents start (after `<|endoftext|>`), decode completions."""

    def __init__(self, tokenizer_file: str | Path, context: int):
        from tokenizers import Tokenizer

        path = Path(tokenizer_file)
        if not path.exists():
            raise ZooError(f"tokenizer {path} is missing: export (or train) the run again")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.end_id = self.tokenizer.token_to_id(END_OF_TEXT)
        if self.end_id is None:
            raise ZooError(f"tokenizer {path} has no {END_OF_TEXT} token: it is not a causal language "
                           "model's tokenizer")
        self.context = int(context)

    def encode(self, prompt: str, max_new_tokens: int) -> tuple[list[int], int]:
        """`[<|endoftext|>] + tokens(prompt)`, cut from the left so `max_new_tokens` fit in the
        context (at least one), and how many new tokens then fit."""
        if not isinstance(prompt, str):
            raise ZooError(f"prompt {prompt!r} is not a string")
        ids = [self.end_id, *self.tokenizer.encode(prompt).ids]
        room = max(1, min(max_new_tokens, self.context - 1))
        ids = ids[-(self.context - room):]
        return ids, min(max_new_tokens, self.context - len(ids))

    def decode(self, ids: list[int]) -> str:
        """Text of generated ids (the end-of-text token is not text)."""
        return self.tokenizer.decode([i for i in ids if i != self.end_id], skip_special_tokens=True)

    def stream(self) -> TextStream:
        """An incremental decoder of one completion's ids."""
        return TextStream(self)


class TextStream:
    """The text of a growing list of ids, decoded a token at a time with `tokenizers`' `DecodeStream`
    (decoding every id again at each step made a completion's cost grow with the square of its
    length); the final text is one full decode, so it is exactly `TextCodec.decode`'s."""

    def __init__(self, codec: TextCodec):
        from tokenizers.decoders import DecodeStream

        self.codec, self.decoder = codec, DecodeStream(skip_special_tokens=True)
        self.text, self.fed = "", 0

    def text_of(self, ids: list[int], final: bool = False) -> str:
        """The text of `ids` (which extend those given before): settled characters only, unless
        `final`."""
        if final:
            return self.codec.decode(ids)
        tokenizer, end = self.codec.tokenizer, self.codec.end_id
        for token in ids[self.fed:]:
            if token != end:
                chunk = self.decoder.step(tokenizer, token)
                if chunk:
                    self.text += chunk
        self.fed = len(ids)
        return self.text
