"""Fast paths for the JSON Schema checks of request bodies.

jsonschema takes a few milliseconds per workflow, more than a heuristic decision. These checks
accept only bodies the schema certainly accepts (same keys, types and bounds, written out by hand);
anything else goes to jsonschema, which then decides and words the error. So they change speed,
never the verdict: a test holds them to the schema on valid and invalid bodies.
"""

from __future__ import annotations

from typing import Any

ID = (str, int)
NUMBER = (int, float)
WORKFLOW_KEYS = frozenset({"id", "arrival", "pattern", "tasks", "edges"})
TASK_KEYS = frozenset({"id", "type", "work", "expected_work", "output_mb"})
EVENT_KEYS = frozenset({"workflow", "task", "kind", "time"})


def _is(value: Any, types: tuple[type, ...]) -> bool:
    return type(value) in types  # exact types: JSON true/false are bools, not numbers


def _nonnegative(value: Any) -> bool:
    return type(value) in NUMBER and value >= 0


def plain_workflow(spec: Any) -> bool:
    """True only if ``spec`` is certainly a valid workflow of ``workload.schema.json``."""
    if type(spec) is not dict or not spec.keys() <= WORKFLOW_KEYS or not {"id", "arrival", "tasks"} <= spec.keys():
        return False
    if not (_is(spec["id"], ID) and _nonnegative(spec["arrival"])):
        return False
    if "pattern" in spec and type(spec["pattern"]) is not str:
        return False
    tasks = spec["tasks"]
    if type(tasks) is not list or not tasks:
        return False
    for task in tasks:
        if type(task) is not dict or not task.keys() <= TASK_KEYS or not {"id", "type", "work"} <= task.keys():
            return False
        if not (_is(task["id"], ID) and type(task["type"]) is str and _nonnegative(task["work"])):
            return False
        if any(key in task and not _nonnegative(task[key]) for key in ("expected_work", "output_mb")):
            return False
    edges = spec.get("edges", [])
    if type(edges) is not list:
        return False
    return all(type(e) is list and len(e) == 2 and _is(e[0], ID) and _is(e[1], ID) for e in edges)


def plain_events(body: Any, kinds: tuple[str, ...]) -> bool:
    """True only if ``body`` is certainly valid under the events schema."""
    if type(body) is not dict or body.keys() != {"events"}:
        return False
    events = body["events"]
    if type(events) is not list or not events:
        return False
    for e in events:
        if type(e) is not dict or e.keys() != EVENT_KEYS:
            return False
        if not (_is(e["workflow"], ID) and _is(e["task"], ID) and type(e["kind"]) is str and e["kind"] in kinds):
            return False
        if not _nonnegative(e["time"]):
            return False
    return True
