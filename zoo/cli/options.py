"""`key=value` arguments into a command's structured config (`zoo.config.commands`), checked like
the training config: the same typed values, ranges, choices and "did you mean" one-line errors
(`zoo.config.validate`). OmegaConf only: no Hydra start-up, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from zoo.cli.quoting import unquoted
from zoo.config.validate import check_missing, check_node, unknown_key_error
from zoo.core.errors import ZooError

T = TypeVar("T")
EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false"}


def parse_options(command: str, schema: type[T], args: Sequence[str]) -> T:
    """The `schema` instance that `key=value` `args` give (an unknown key is an error)."""
    return _parse(command, schema, args, others=None)


def split_options(command: str, schema: type[T], args: Sequence[str]) -> tuple[T, list[str]]:
    """The `schema` instance from the args that name its fields, and the other args (`zoo launch`
    passes them to `zoo train`)."""
    others: list[str] = []
    return _parse(command, schema, args, others), others


def _parse(command: str, schema: type[T], args: Sequence[str], others: list[str] | None) -> T:
    fields = {f.name: f for f in dataclasses.fields(schema)}
    given: dict[str, str] = {}
    for arg in args:
        key, sep, text = arg.partition("=")
        key = key.lstrip("+")
        if sep and key in fields:
            given[key] = unquoted(text)  # a Hydra-quoted value too (zoo.cli.quoting)
        elif others is not None:
            others.append(arg)
        elif not sep:
            raise ZooError(f"zoo {command}: argument {arg!r} is not key=value "
                           f"(options: {', '.join(fields)})")
        else:
            raise unknown_key_error(key, list(fields), owner=f"zoo {command}", noun="option")
    cfg = OmegaConf.structured(schema)
    for key, text in given.items():
        try:
            cfg[key] = text.replace("${", "$ {") if fields[key].type == "str" else text  # not interpolated
        except ValidationError:
            kind = EXPECTED.get(str(fields[key].type), str(fields[key].type))
            raise ZooError(f"zoo {command}: {key}={text!r}: expected {kind}") from None
    try:
        check_missing(cfg)
        check_node(cfg, schema, "")
    except ZooError as exc:
        raise ZooError(f"zoo {command}: {exc}") from None
    strings = {k: v for k, v in given.items() if fields[k].type == "str"}  # as typed
    return dataclasses.replace(OmegaConf.to_object(cfg), **strings)
