"""The JSON Schemas of the file formats (package data) and one-line messages for violations."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from scale_pl.errors import ScaleError

SCHEMAS = {"workload": "workload.schema.json", "cluster": "cluster.schema.json"}
# Containers whose items are named by their "id" field (lists) or by their key (mappings) in messages.
_NAMED_ITEMS = {"workflows": "workflow", "tasks": "task", "edges": "edge", "catalogue": "type", "classes": "class"}
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` (``workload`` or ``cluster``), as shipped in the package."""
    text = resources.files("scale_pl.io").joinpath(SCHEMAS[name]).read_text()
    return json.loads(text)


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate(data: Any, name: str, source: str) -> None:
    """Raise a one-line :class:`ScaleError` ``"<source>: <where>: <what>"`` if ``data`` breaks schema ``name``."""
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(data))
    if error is None:
        return
    where = describe_path(data, list(error.absolute_path))
    raise ScaleError(f"{source}: {where + ': ' if where else ''}{_message(error)}")


def describe_path(data: Any, path: list[str | int]) -> str:
    """A path into ``data`` in words, naming items by id: ``workflow 'w3', task 't1', work``."""
    parts: list[str] = []
    node, parent_key = data, None
    for key in path:
        item = node[key] if isinstance(node, (dict, list)) else None
        label = _NAMED_ITEMS.get(parent_key) if parent_key is not None else None
        if label and isinstance(key, int):
            ident = item.get("id") if isinstance(item, dict) else None
            parts[-1:] = [f"{label} {ident!r}" if isinstance(ident, (str, int)) else f"{parent_key}[{key}]"]
        elif label and isinstance(key, str):
            parts[-1:] = [f"{label} {key!r}"]
        else:
            parts.append(str(key))
        node, parent_key = item, key
    return ", ".join(parts)


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = _JSON_TYPES.get(type(error.instance), "a number")
        return f"must be {expected}, got {got}"
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        known = f" (known: {', '.join(sorted(allowed))})" if allowed else ""
        return f"unexpected key {', '.join(map(repr, extra))}{known}"
    if error.validator in ("minItems", "minProperties") and not error.instance:
        return "must not be empty"
    if error.validator == "const":
        return f"must be {error.validator_value!r}, got {error.instance!r}"
    message = error.message
    return message if len(message) <= 160 else message[:157] + "..."
