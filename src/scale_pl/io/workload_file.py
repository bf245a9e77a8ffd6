"""The workload file (JSON): workflows with arrivals, tasks with actual and expected work, edges.

The layout (see ``docs/formats.md`` and ``workload.schema.json``)::

    {"format": "scale_pl.workload", "version": 1,
     "catalogue": {"llm_plan": {"work": 2.0, "cv": 0.5, "latency": 0.05, "output_mb": 0.01}, ...},
     "workflows": [{"id": "w0", "arrival": 0.7, "pattern": "react",
                    "tasks": [{"id": "t0", "type": "llm_plan", "work": 1.8, "expected_work": 2.1,
                               "output_mb": 0.01}, ...],
                    "edges": [["t0", "t1"], ...]}]}

``work`` is the actual work the simulator runs; ``expected_work`` (what the scheduler sees)
defaults to ``work``; ``output_mb`` defaults to the type's. The catalogue is optional: without
it the types refer to the catalogue of a workload config. Floats are written with Python's
``repr``, so a written workload reads back bit for bit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.io.atomic import write_text_atomic
from scale_pl.io.json_text import dumps_expanded
from scale_pl.io.schema import validate
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.workload import Workflow, Workload

FORMAT = "scale_pl.workload"


def read_json(path: str | Path) -> Any:
    """The JSON value in ``path``; one-line errors for a missing, unreadable or malformed file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScaleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScaleError(f"{path}: is a directory, not a workload file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScaleError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScaleError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None


def catalogue_from_data(data: dict[str, Any], source: str) -> Catalogue | None:
    """The catalogue embedded in a workload mapping, or None (validate the mapping first)."""
    if "catalogue" not in data:
        return None
    try:
        return Catalogue.from_dict({name: dict(fields) for name, fields in data["catalogue"].items()})
    except ScaleError as exc:
        raise ScaleError(f"{source}: catalogue: {exc}") from None


def workflow_from_dict(spec: dict[str, Any], catalogue: Catalogue, source: str) -> Workflow:
    """One workflow of the file layout; errors name ``source``, the workflow and the task."""
    wid = str(spec["id"])
    where = f"{source}: workflow {wid!r}"
    ids = [str(t["id"]) for t in spec["tasks"]]
    index: dict[str, int] = {}
    for i, tid in enumerate(ids):
        if tid in index:
            raise ScaleError(f"{where}: duplicate task id {tid!r}")
        index[tid] = i
    types = []
    for t, tid in zip(spec["tasks"], ids, strict=True):
        if t["type"] not in catalogue.names:
            known = ", ".join(catalogue.names)
            raise ScaleError(f"{where}: task {tid!r} has unknown type {t['type']!r} (known: {known})")
        types.append(catalogue.index(t["type"]))
    edges = []
    for k, (parent, child) in enumerate(spec.get("edges", [])):
        for role, end in (("parent", parent), ("child", child)):
            if str(end) not in index:
                raise ScaleError(f"{where}: edge {k} names {role} {str(end)!r}, which is not a task of the workflow")
        edges.append((index[str(parent)], index[str(child)]))
    tasks = spec["tasks"]
    for t, tid in zip(tasks, ids, strict=True):
        for key in ("work", "expected_work", "output_mb"):
            if key in t and not (math.isfinite(t[key]) and t[key] >= 0):  # the schema lets NaN and inf through
                raise ScaleError(f"{where}: task {tid!r} has {key} {t[key]} (must be a finite number >= 0)")
    work = [float(t["work"]) for t in tasks]
    expected = [float(t.get("expected_work", w)) for t, w in zip(tasks, work, strict=True)]
    output = [float(t.get("output_mb", catalogue[k].output_mb)) for t, k in zip(tasks, types, strict=True)]
    try:
        return Workflow(
            id=wid,
            arrival=float(spec["arrival"]),
            types=np.array(types, dtype=np.int64),
            expected_work=np.array(expected),
            work=np.array(work),
            output_mb=np.array(output),
            edges=np.array(edges, dtype=np.int64).reshape(-1, 2),
            task_ids=ids,
            pattern=str(spec.get("pattern", "")),
        )
    except ScaleError as exc:
        raise ScaleError(f"{source}: {exc}") from None


def workflows_from_data(data: Any, catalogue: Catalogue, source: str) -> list[Workflow]:
    """The workflows of a workload mapping, in file order (check it with the schema first)."""
    flows, seen = [], set()
    for spec in data["workflows"]:
        if str(spec["id"]) in seen:
            raise ScaleError(f"{source}: duplicate workflow id {str(spec['id'])!r}")
        seen.add(str(spec["id"]))
        flows.append(workflow_from_dict(spec, catalogue, source))
    return flows


def read_workload_file(path: str | Path, catalogue: Catalogue | None = None) -> Workload:
    """The workload of one workload file; ``catalogue`` is needed only if the file embeds none."""
    data = read_json(path)
    validate(data, "workload", str(path))
    catalogue = catalogue_from_data(data, str(path)) or catalogue
    if catalogue is None:
        raise ScaleError(f"{path}: the file embeds no catalogue; give one (a workload config)")
    return Workload(catalogue, workflows_from_data(data, catalogue, str(path)))


def workload_to_dict(workload: Workload, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file layout of ``workload``, catalogue embedded, every float exact."""
    cat = workload.catalogue
    data: dict[str, Any] = {"format": FORMAT, "version": 1}
    if meta:
        data["meta"] = meta
    data["catalogue"] = {
        p.name: {"work": p.work, "cv": p.cv, "latency": p.latency, "output_mb": p.output_mb} for p in cat.primitives
    }
    data["workflows"] = [workflow_to_dict(f, cat) for f in workload.workflows]
    return data


def workflow_to_dict(f: Workflow, cat: Catalogue) -> dict[str, Any]:
    """One workflow in the file layout (what the placement service accepts), every float exact."""
    tasks = []
    for i, tid in enumerate(f.task_ids):
        task = {"id": tid, "type": cat.names[int(f.types[i])], "work": float(f.work[i])}
        if f.expected_work[i] != f.work[i]:
            task["expected_work"] = float(f.expected_work[i])
        task["output_mb"] = float(f.output_mb[i])
        tasks.append(task)
    out: dict[str, Any] = {"id": f.id, "arrival": float(f.arrival)}
    if f.pattern:
        out["pattern"] = f.pattern
    out["tasks"] = tasks
    out["edges"] = [[f.task_ids[int(p)], f.task_ids[int(c)]] for p, c in f.edges]
    return out


def dump_workload(workload: Workload, meta: dict[str, Any] | None = None) -> str:
    """The JSON text of the workload file: one primitive and one task per line, readable and diffable."""
    data = workload_to_dict(workload, meta)
    flows = data.pop("workflows")
    head = dumps_expanded(data, 2)[:-2]  # without the closing "\n}"
    body = ",\n".join(_dump_workflow(f) for f in flows)
    return f'{head},\n "workflows": [\n{body}\n ]\n}}\n'


def _dump_workflow(f: dict[str, Any]) -> str:
    fields = json.dumps({k: v for k, v in f.items() if k not in ("tasks", "edges")}, allow_nan=False)[:-1]
    tasks = dumps_expanded(f["tasks"], 1, "   ")
    return f'  {fields},\n   "tasks": {tasks},\n   "edges": {json.dumps(f["edges"])}}}'


def write_workload(workload: Workload, path: str | Path, meta: dict[str, Any] | None = None) -> None:
    """Write ``workload`` to ``path`` atomically."""
    write_text_atomic(path, dump_workload(workload, meta))
