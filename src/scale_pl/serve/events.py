"""Task events reported by the servers (started, finished): their JSON layout and their checks.

A request body is ``{"events": [{"workflow": "w0", "task": "t1", "kind": "finished", "time": 3.2}, ...]}``,
in time order, none older than the service clock. Every check only reads the engine's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema

from scale_pl.io.schema import describe_path
from scale_pl.serve.errors import RequestError
from scale_pl.serve.fastcheck import plain_events
from scale_pl.sim.single.flows import FlowState


class EngineState(Protocol):
    """What the checks read of the service's engine (:class:`~scale_pl.serve.engine.Engine`)."""

    clock: float
    index: dict[str, FlowState]
    task_index: dict[str, dict[str, int]]
    completed: dict[str, dict[str, Any]]


KINDS = ("started", "finished")
EVENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["workflow", "task", "kind", "time"],
                "additionalProperties": False,
                "properties": {
                    "workflow": {"type": ["string", "integer"], "description": "workflow id"},
                    "task": {"type": ["string", "integer"], "description": "task id within the workflow"},
                    "kind": {"enum": list(KINDS), "description": "what happened"},
                    "time": {"type": "number", "minimum": 0, "description": "when, on the runtime's clock (s)"},
                },
            },
        }
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(EVENTS_SCHEMA)


@dataclass(frozen=True)
class Event:
    """A checked event: ``t`` is the task's index in its workflow."""

    workflow: str
    task: str
    kind: str
    time: float
    t: int

    def to_dict(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "task": self.task, "kind": self.kind, "time": self.time}


def check_events(engine: EngineState, body: Any) -> list[Event]:
    """The events of ``body``, or a :class:`RequestError` naming the first bad field or id."""
    error = None if plain_events(body, KINDS) else jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        where = describe_path(body, list(error.absolute_path)) or "body"
        raise RequestError(422, "invalid_events", f"{where}: {error.message}", where)
    events: list[Event] = []
    started: dict[tuple[str, int], float] = {}  # started earlier in this request
    seen: set[tuple[str, int, str]] = set()
    previous = engine.clock
    for i, raw in enumerate(body["events"]):
        where = f"events[{i}]"
        wid, tid, kind, when = str(raw["workflow"]), str(raw["task"]), raw["kind"], float(raw["time"])
        if not math.isfinite(when):
            raise RequestError(422, "invalid_events", f"{where}.time: must be finite, got {when}", f"{where}.time")
        if when < previous:
            older = "the service clock" if i == 0 else f"events[{i - 1}].time"
            raise RequestError(
                409, "out_of_order", f"{where}: time {when!r} is before {older} {previous!r} (events go in time order)",
                f"{where}.time",
            )  # fmt: skip
        previous = when
        if wid in engine.completed:
            raise RequestError(409, "workflow_completed", f"{where}: workflow {wid!r} has already completed", wid)
        if wid not in engine.index:
            raise RequestError(422, "unknown_workflow", f"{where}: no workflow {wid!r} was submitted", wid)
        t = engine.task_index[wid].get(tid)
        if t is None:
            raise RequestError(422, "unknown_task", f"{where}: workflow {wid!r} has no task {tid!r}", tid)
        _check_one(engine.index[wid], where, wid, tid, t, kind, when, started, seen)
        events.append(Event(wid, tid, kind, when, t))
    return events


def _check_one(
    fs: FlowState, where: str, wid: str, tid: str, t: int, kind: str, when: float,
    started: dict[tuple[str, int], float], seen: set[tuple[str, int, str]],
) -> None:  # fmt: skip
    name = f"task {tid!r} of workflow {wid!r}"
    if fs.server[t] < 0:
        raise RequestError(409, "not_placed", f"{where}: {name} was never placed", tid)
    if (wid, t, kind) in seen or (fs.start if kind == "started" else fs.finish)[t] < math.inf:
        raise RequestError(409, "duplicate_event", f"{where}: {name} was already reported {kind}", tid)
    seen.add((wid, t, kind))
    if kind == "started":
        placed = float(fs.placed_at[t])
        if when < placed:
            raise RequestError(
                409, "before_placement", f"{where}: {name} cannot start at {when!r}, before it was placed at "
                f"{placed!r}", tid,
            )  # fmt: skip
        started[(wid, t)] = when
        return
    began = started.get((wid, t), float(fs.start[t]))
    if began == math.inf:
        raise RequestError(409, "not_started", f"{where}: {name} is reported finished but never started", tid)
    if when < began:
        raise RequestError(
            409, "before_start", f"{where}: {name} cannot finish at {when!r}, before its start {began!r}", tid
        )
