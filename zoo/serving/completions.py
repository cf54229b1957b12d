"""OpenAI-compatible text completions (`POST /v1/completions`), independent of the web framework.

`parse_request(body, models)` validates an OpenAI request body into a `CompletionRequest` (or raises
`CompletionError` with the HTTP status and OpenAI's error body); `sse` and `sse_with_text` encode
server-sent events. The routes (`zoo.serving.openai_api`) answer with the continuous batcher.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoo.core.errors import ZooError
from zoo.runtime.generation_options import GenerationOptions

MAX_STOP = 4  # as OpenAI's API
MAX_PROMPTS = 16  # prompts in one request (each is a row of the decoding batch)
MAX_PROMPT_CHARS = 100_000  # characters of one prompt (it is cut to the context after tokenising)
UNSUPPORTED = {"logprobs": None, "suffix": None, "best_of": 1, "n": 1, "echo": False,
               "frequency_penalty": 0, "presence_penalty": 0, "logit_bias": None}
KNOWN = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "stop", "stream", "seed",
         "user", "stream_options", "ignore_eos", *UNSUPPORTED}


class CompletionError(Exception):
    """A bad completion request: `status` and an OpenAI-style error body."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.status, self.param = status, param

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": str(self), "type": kind, "param": self.param, "code": None}}


@dataclass
class CompletionRequest:
    model: str
    prompts: list[str]
    options: GenerationOptions
    stream: bool = False
    include_usage: bool = False


def _number(body: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
        raise CompletionError(f"{key}={value!r}: expected {'an integer' if kind is int else 'a number'}", key)
    return kind(value)


def _prompts(value: Any) -> list[str]:
    prompts = [value] if isinstance(value, str) else value
    if not (isinstance(prompts, list) and prompts and all(isinstance(p, str) for p in prompts)):
        raise CompletionError("prompt must be a string or a non-empty list of strings (token arrays are "
                              "not accepted)", "prompt")
    if len(prompts) > MAX_PROMPTS:
        raise CompletionError(f"prompt holds {len(prompts)} prompts; at most {MAX_PROMPTS} a request: "
                              "send several requests (they are decoded together)", "prompt")
    longest = max(len(p) for p in prompts)
    if longest > MAX_PROMPT_CHARS:
        raise CompletionError(f"a prompt of {longest} characters exceeds the limit of {MAX_PROMPT_CHARS}",
                              "prompt")
    return prompts


def _stop(value: Any) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise CompletionError("stop must be a string or a list of non-empty strings", "stop")
    if len(stops) > MAX_STOP:
        raise CompletionError(f"stop has {len(stops)} sequences; at most {MAX_STOP}", "stop")
    return tuple(stops)


def sampling(temperature: float, top_p: float, top_k: int | None) -> str:
    """OpenAI's knobs as a sampler: temperature 0 is greedy, top_p < 1 nucleus, top_k (an extension)
    the k likeliest, else the full softmax at the temperature."""
    if temperature == 0:
        return "greedy"
    if top_p < 1:
        return "top_p"
    return "top_k" if top_k else "random"


def check_model(body: Any, models: list[str], what: str) -> str:
    """The body's served `model` (a JSON object is required)."""
    if not isinstance(body, dict):
        raise CompletionError(f"the body must be a JSON object with model and {what}")
    model = body.get("model")
    if model not in models:
        served = ", ".join(models) or "none"
        raise CompletionError(f"model {model!r} is not a served language model (served: {served})", "model",
                              404 if isinstance(model, str) else 400)
    return model


def check_known(body: dict[str, Any], known: set[str], unsupported: dict[str, Any]) -> None:
    """Unknown parameters, and supported ones at a value this server does not offer, are 400s."""
    unknown = sorted(set(body) - known)
    if unknown:
        raise CompletionError(f"unknown parameter(s) {', '.join(unknown)}", unknown[0])
    for key, default in unsupported.items():
        if body.get(key, default) not in (default, None):
            raise CompletionError(f"{key}={body[key]!r} is not supported by this server "
                                  f"(only {default!r})", key)


def sampling_options(body: dict[str, Any], max_tokens_key: str = "max_tokens",
                     context: int | None = None) -> tuple[GenerationOptions, bool, bool]:
    """Sampling options, `stream` and `stream_options.include_usage` of an OpenAI body; the model's
    `context` bounds the new tokens."""
    temperature = _number(body, "temperature", 1.0, float)
    top_p = _number(body, "top_p", 1.0, float)
    top_k = _number(body, "top_k", 0, int)
    if not 0 <= temperature <= 2:
        raise CompletionError(f"temperature={temperature}: expected 0 to 2", "temperature")
    if not 0 < top_p <= 1:
        raise CompletionError(f"top_p={top_p}: expected a number in (0, 1]", "top_p")
    if top_k < 0:
        raise CompletionError(f"top_k={top_k}: expected an integer >= 0", "top_k")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise CompletionError("stream must be true or false", "stream")
    seed = _number(body, "seed", 0, int)
    if not 0 <= seed < 2**63:
        raise CompletionError(f"seed={seed}: expected an integer from 0 to 2^63-1", "seed")
    new_tokens = _number(body, max_tokens_key, 16, int)
    if context is not None and new_tokens > context:
        raise CompletionError(f"{max_tokens_key}={new_tokens} exceeds this model's context of {context} "
                              "tokens", max_tokens_key)
    ignore_eos = body.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise CompletionError("ignore_eos must be true or false", "ignore_eos")
    try:
        options = GenerationOptions(max_new_tokens=new_tokens, sampler=sampling(temperature, top_p, top_k),
                                    temperature=temperature or 1.0, top_k=top_k or 50, top_p=top_p,
                                    seed=seed, stop=_stop(body.get("stop")), ignore_end=ignore_eos)
    except ZooError as exc:
        raise CompletionError(str(exc), max_tokens_key if "max_new_tokens" in str(exc) else None) from None
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise CompletionError('stream_options must be an object like {"include_usage": true}',
                              "stream_options")
    usage = (stream_options or {}).get("include_usage", False)
    if not isinstance(usage, bool):
        raise CompletionError("stream_options.include_usage must be true or false", "stream_options")
    return options, stream, usage


def parse_request(body: Any, models: list[str], context: int | None = None) -> CompletionRequest:
    """Validate an OpenAI completions body against the served `models` (language models only)."""
    model = check_model(body, models, "prompt")
    check_known(body, KNOWN, UNSUPPORTED)
    if "prompt" not in body:
        raise CompletionError("prompt is required", "prompt")
    prompts = _prompts(body["prompt"])
    options, stream, usage = sampling_options(body, "max_tokens", context)
    return CompletionRequest(model, prompts, options, stream, usage)


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event carrying `data` (JSON, or the literal `[DONE]`)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


TEXT = "\x00text\x00"  # where `sse_with_text` puts each event's text


def sse_with_text(chunk: dict[str, Any]) -> Callable[[str], bytes]:
    """Events of `chunk` that differ only in the string field set to `TEXT`: the chunk is encoded
    once around it and each event encodes only its text (a stream sends one event per piece)."""
    before, after = json.dumps(chunk, ensure_ascii=False).split(json.dumps(TEXT, ensure_ascii=False))
    prefix, suffix = f"data: {before}".encode(), f"{after}\n\n".encode()
    return lambda text: prefix + json.dumps(text, ensure_ascii=False).encode() + suffix
