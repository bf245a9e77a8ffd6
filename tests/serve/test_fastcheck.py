"""The fast body checks never accept what the JSON Schema rejects, and accept the usual valid bodies."""

from __future__ import annotations

import copy
import itertools

import jsonschema

from scale_pl.io.schema import load_schema
from scale_pl.serve.events import EVENTS_SCHEMA, KINDS
from scale_pl.serve.fastcheck import plain_events, plain_workflow

FLOW = {
    "id": "w0",
    "arrival": 1.5,
    "pattern": "react",
    "tasks": [{"id": "t0", "type": "llm_plan", "work": 2.0, "expected_work": 1.0, "output_mb": 0.1},
              {"id": 1, "type": "tool_api", "work": 0}],
    "edges": [["t0", 1]],
}  # fmt: skip
EVENTS = {"events": [{"workflow": "w0", "task": "t0", "kind": "started", "time": 0}]}
ODD = [None, True, False, -1, -0.5, 0, 2.5, "x", "", [], [1], {}, {"a": 1}, float("inf")]


def mutations(value):
    """``value`` with one leaf replaced, one key removed or one key added, everywhere in it."""
    yield value
    if isinstance(value, dict):
        for key in value:
            for odd in ODD:
                yield {**value, key: odd}
            yield {k: v for k, v in value.items() if k != key}
            for inner in itertools.islice(mutations(value[key]), 1, None):
                yield {**value, key: inner}
        yield {**value, "extra": 1}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for odd in ODD:
                yield [*value[:i], odd, *value[i + 1 :]]
            for inner in itertools.islice(mutations(item), 1, None):
                yield [*value[:i], inner, *value[i + 1 :]]
        yield [*value, copy.deepcopy(value[0])] if value else [1]
        yield value[:-1]


def test_plain_workflow_agrees_with_the_schema():
    schema = load_schema("workload")
    validator = jsonschema.Draft202012Validator(schema)
    cases = list(mutations(FLOW))
    assert len(cases) > 250
    for spec in cases:
        if plain_workflow(spec):
            assert validator.is_valid({"workflows": [spec]}), spec
    assert plain_workflow(FLOW)


def test_plain_events_agrees_with_the_schema():
    validator = jsonschema.Draft202012Validator(EVENTS_SCHEMA)
    cases = list(mutations(EVENTS))
    assert len(cases) > 80
    for body in cases:
        if plain_events(body, KINDS):
            assert validator.is_valid(body), body
    assert plain_events(EVENTS, KINDS)
