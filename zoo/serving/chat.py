"""OpenAI chat completions (`POST /v1/chat/completions`) for a base causal LM, independent of the
web framework: request validation, the chat template, and the answer's shapes.

A base GPT has no chat format of its own; the messages are written as plain text, one turn a
paragraph, and the model continues after `Assistant:` (the stop string `\\nUser:` ends its turn):

    {system message}

    User: {message}
    Assistant: {message}
    User: {message}
    Assistant:

A bundle whose `export.json` declares `outputs.chat_template` (a format string per role, with
`{content}`, and `generation_prompt`) is written with that instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from zoo.runtime.generation_options import GenerationOptions
from zoo.serving.completions import CompletionError, check_known, check_model, sampling_options

ROLES = ("system", "developer", "user", "assistant")
PLAIN_TEMPLATE = {"system": "{content}\n\n", "developer": "{content}\n\n", "user": "User: {content}\n",
                  "assistant": "Assistant: {content}\n", "generation_prompt": "Assistant:",
                  "stop": ["\nUser:"]}
MAX_MESSAGES = 256
UNSUPPORTED = {"n": 1, "logprobs": False, "top_logprobs": None, "frequency_penalty": 0,
               "presence_penalty": 0, "logit_bias": None, "tools": None, "tool_choice": None,
               "functions": None, "function_call": None, "response_format": None, "parallel_tool_calls": None,
               "audio": None, "modalities": None, "prediction": None, "reasoning_effort": None,
               "service_tier": None, "store": None, "metadata": None, "web_search_options": None}
KNOWN = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop",
         "stream", "stream_options", "seed", "user", "ignore_eos", *UNSUPPORTED}


@dataclass
class ChatRequest:
    model: str
    prompt: str
    options: GenerationOptions
    stream: bool = False
    include_usage: bool = False


def message_text(message: Any, index: int) -> tuple[str, str]:
    """The role and text of `messages[index]` (content a string, or a list of text parts)."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise CompletionError(f"{where} must be an object with role and content", "messages")
    role, content = message.get("role"), message.get("content")
    if role not in ROLES:
        raise CompletionError(f"{where}.role={role!r}: expected one of {', '.join(ROLES)}", "messages")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                   for p in content):
            raise CompletionError(f"{where}.content: only text parts ({{\"type\": \"text\", \"text\": "
                                  "...}) are supported", "messages")
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise CompletionError(f"{where}.content must be a string or a list of text parts", "messages")
    return role, content


def render(messages: list[tuple[str, str]], template: dict[str, Any]) -> str:
    """The prompt text of the conversation, ending where the assistant's turn begins."""
    return "".join(template[role].format(content=text) for role, text in messages) \
        + template["generation_prompt"]


def parse_chat(body: Any, models: list[str], context: int | None = None,
               template: dict[str, Any] | None = None) -> ChatRequest:
    """Validate an OpenAI chat completions body into a prompt and sampling options."""
    model = check_model(body, models, "messages")
    check_known(body, KNOWN, UNSUPPORTED)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise CompletionError("messages must be a non-empty list of {role, content} objects", "messages")
    if len(messages) > MAX_MESSAGES:
        raise CompletionError(f"messages holds {len(messages)} messages; at most {MAX_MESSAGES}", "messages")
    turns = [message_text(m, i) for i, m in enumerate(messages)]
    key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    options, stream, usage = sampling_options(body, key, context)
    template = template or PLAIN_TEMPLATE
    stop = tuple(dict.fromkeys([*options.stop, *template.get("stop", [])]))
    options = GenerationOptions(**{**options.__dict__, "stop": stop})
    return ChatRequest(model, render(turns, template), options, stream, usage)


def chat_id() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


def chat_answer(request: ChatRequest, text: str, finish_reason: str, usage: dict[str, int]) -> dict[str, Any]:
    ident, created = chat_id()
    return {"id": ident, "object": "chat.completion", "created": created, "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage}


def chat_chunk(head: dict[str, Any], delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {**head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
