"""JSON text that stays readable: records one per line instead of one field per line."""

from __future__ import annotations

import json
from typing import Any


def dumps_expanded(value: Any, levels: int, pad: str = "") -> str:
    """JSON of ``value`` with the outer ``levels`` of objects/arrays one item per line, the rest inline.

    ``dumps_expanded({"tasks": [{...}, {...}]}, 2)`` puts each task on its own line. Floats are
    written by :func:`json.dumps` (Python's repr), so they read back exactly.
    """
    if levels <= 0 or not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, allow_nan=False)
    inner = pad + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(str(k))}: {dumps_expanded(v, levels - 1, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [inner + dumps_expanded(v, levels - 1, inner) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"
