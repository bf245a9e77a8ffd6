"""Importing WfCommons WfFormat traces (schema 1.5, and 1.4 and older) as workflows.

- Work = the task's runtime on the traced machine (``runtimeInSeconds``, or ``runtime`` in old
  schemas) x ``work_scale``; the scheduler sees the same value as its expected work.
- Output size (MB, 10^6 bytes) = the summed sizes of the task's output files.
- Type = the task's program name mapped through the rules of a WfFormat config
  (``conf/wfformat/default.yaml``), ``default`` when no rule matches.
- Edges = the union of every task's ``parents`` and ``children`` lists.

Two shapes are read. Schema 1.5: ``workflow.specification.tasks`` (id, name, parents, children,
inputFiles, outputFiles by file id), ``workflow.specification.files`` (id, sizeInBytes) and
``workflow.execution.tasks`` (id, runtimeInSeconds, command.program). Schema 1.4 and older:
``workflow.tasks`` (or ``workflow.jobs``) with name, parents, children, ``runtimeInSeconds``
or ``runtime``, ``command.program``, ``category`` and inline ``files`` (``link: input|output``,
``sizeInBytes``, or ``size`` in KB as schemas up to 1.3 define it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.config import CONF_DIR, read_yaml
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.workload import Workflow

DEFAULT_CONFIG = CONF_DIR / "wfformat" / "default.yaml"
BYTES_PER_MB = 1e6


@dataclass
class WfFormatMapping:
    """From a trace task's program name to a primitive type, and the work scale.

    Args:
        rules: ``(regex, type)`` pairs tried in order; a regex matches the start of the name.
        default: the type when no rule matches.
        work_scale: work = runtime x work_scale.
    """

    rules: list[tuple[re.Pattern, str]] = field(default_factory=list)
    default: str = "code_exec"
    work_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.work_scale) and self.work_scale > 0):
            raise ScaleError(f"work_scale must be > 0, got {self.work_scale}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WfFormatMapping:
        """Build from the config layout ``{rules: [{match, type}], default, work_scale}``."""
        unknown = set(data) - {"rules", "default", "work_scale"}
        if unknown:
            raise ScaleError(f"unexpected key {sorted(unknown)[0]!r} (known: default, rules, work_scale)")
        rules = []
        for i, rule in enumerate(data.get("rules") or []):
            if not isinstance(rule, dict) or set(rule) != {"match", "type"}:
                raise ScaleError(f"rules[{i}]: expected {{match: REGEX, type: PRIMITIVE}}, got {rule!r}")
            try:
                rules.append((re.compile(str(rule["match"])), str(rule["type"])))
            except re.error as exc:
                raise ScaleError(f"rules[{i}]: bad regular expression {rule['match']!r} ({exc})") from None
        try:
            return cls(rules, str(data.get("default", "code_exec")), float(data.get("work_scale", 1.0)))
        except (TypeError, ValueError) as exc:
            raise ScaleError(str(exc)) from None

    def type_for(self, program: str) -> str:
        """The primitive type of a task whose program (or name) is ``program``."""
        for pattern, type_name in self.rules:
            if pattern.match(program):
                return type_name
        return self.default


def load_mapping(path: str | Path | None = None) -> WfFormatMapping:
    """The mapping of a WfFormat config file (default ``conf/wfformat/default.yaml``)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        return WfFormatMapping.from_dict(read_yaml(path))
    except ScaleError as exc:
        if str(exc).startswith(f"{path}:"):
            raise
        raise ScaleError(f"{path}: {exc}") from None


def is_wfformat(data: Any) -> bool:
    """Whether a parsed JSON value looks like a WfFormat instance (vs. a scale_pl workload file)."""
    return isinstance(data, dict) and isinstance(data.get("workflow"), dict) and "workflows" not in data


@dataclass
class _Task:
    key: str  # what parents/children lists refer to (id in 1.5, name in 1.4)
    alias: str  # the other of id/name, also accepted in references
    program: str
    runtime: Any
    output_bytes: float
    links: list[tuple[str, str]]  # (parent key, child key) references as written in the file


def workflow_from_wfformat(
    data: dict[str, Any],
    source: str,
    catalogue: Catalogue,
    mapping: WfFormatMapping,
    workflow_id: str,
    arrival: float = 0.0,
) -> Workflow:
    """The workflow of one WfFormat instance; errors name ``source`` and the task."""
    wf = data["workflow"]
    tasks = _tasks_v15(wf, source) if "specification" in wf else _tasks_v14(wf, source)
    if not tasks:
        raise ScaleError(f"{source}: the trace has no tasks")
    index: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if t.key in index:
            raise ScaleError(f"{source}: duplicate task id {t.key!r}")
        index[t.key] = i
    by_name = {t.alias: i for i, t in enumerate(tasks)}
    edges = set()
    for t in tasks:
        for parent, child in t.links:
            ends = []
            for end in (parent, child):
                i = index.get(end, by_name.get(end))
                if i is None:
                    other = child if end == parent else parent
                    raise ScaleError(f"{source}: task {other!r} refers to task {end!r}, which is not in the trace")
                ends.append(i)
            edges.add((ends[0], ends[1]))
    types, work = [], []
    for t in tasks:
        type_name = mapping.type_for(t.program)
        if type_name not in catalogue.names:
            raise ScaleError(
                f"{source}: task {t.key!r} (program {t.program!r}) maps to type {type_name!r}, which is not in "
                f"the catalogue (known: {', '.join(catalogue.names)}); add a rule to the WfFormat config"
            )
        types.append(catalogue.index(type_name))
        work.append(_runtime(t, source) * mapping.work_scale)
    try:
        return Workflow(
            id=workflow_id,
            arrival=float(arrival),
            types=np.array(types, dtype=np.int64),
            expected_work=np.array(work),
            work=np.array(work),
            output_mb=np.array([t.output_bytes / BYTES_PER_MB for t in tasks]),
            edges=np.array(sorted(edges), dtype=np.int64).reshape(-1, 2),
            task_ids=[t.key for t in tasks],
            pattern="wfformat:" + str(data.get("name", workflow_id)),
        )
    except ScaleError as exc:
        raise ScaleError(f"{source}: {exc}") from None


def _runtime(t: _Task, source: str) -> float:
    if t.runtime is None:
        raise ScaleError(f"{source}: task {t.key!r} has no runtime (runtimeInSeconds)")
    try:
        value = float(t.runtime)
    except (TypeError, ValueError):
        raise ScaleError(f"{source}: task {t.key!r} has runtime {t.runtime!r}, not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ScaleError(f"{source}: task {t.key!r} has runtime {value} (must be finite and >= 0)")
    return value


def _list(obj: dict, key: str, source: str, what: str) -> list:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise ScaleError(f"{source}: {what}: {key} must be a list")
    return value


def _links(key: str, spec: dict, source: str) -> list[tuple[str, str]]:
    parents = [(str(p), key) for p in _list(spec, "parents", source, f"task {key!r}")]
    return parents + [(key, str(c)) for c in _list(spec, "children", source, f"task {key!r}")]


def _tasks_v15(wf: dict, source: str) -> list[_Task]:
    spec = wf["specification"]
    if not isinstance(spec, dict):
        raise ScaleError(f"{source}: workflow.specification must be an object")
    sizes = {}
    for f in _list(spec, "files", source, "workflow.specification"):
        if not isinstance(f, dict) or "id" not in f:
            raise ScaleError(f"{source}: workflow.specification.files: an entry has no id")
        sizes[str(f["id"])] = f.get("sizeInBytes", 0)
    execution = {}
    for e in _list(wf.get("execution") or {}, "tasks", source, "workflow.execution"):
        if isinstance(e, dict) and "id" in e:
            execution[str(e["id"])] = e
    tasks = []
    for i, s in enumerate(_list(spec, "tasks", source, "workflow.specification")):
        if not isinstance(s, dict) or not ("id" in s or "name" in s):
            raise ScaleError(f"{source}: workflow.specification.tasks[{i}] has no id")
        key = str(s.get("id", s.get("name")))
        run = execution.get(key, {})
        out = 0.0
        for fid in _list(s, "outputFiles", source, f"task {key!r}"):
            if str(fid) not in sizes:
                raise ScaleError(f"{source}: task {key!r}: output file {fid!r} is not in workflow.specification.files")
            out += _size(sizes[str(fid)], source, key)
        program = (run.get("command") or {}).get("program") or s.get("name") or key
        runtime = run.get("runtimeInSeconds")
        tasks.append(_Task(key, str(s.get("name", key)), str(program), runtime, out, _links(key, s, source)))
    return tasks


def _tasks_v14(wf: dict, source: str) -> list[_Task]:
    raw = wf.get("tasks", wf.get("jobs"))
    if not isinstance(raw, list):
        raise ScaleError(f"{source}: neither workflow.specification (schema 1.5) nor workflow.tasks (1.4) found")
    tasks = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or not ("name" in s or "id" in s):
            raise ScaleError(f"{source}: workflow.tasks[{i}] has no name")
        key = str(s.get("name", s.get("id")))
        out = 0.0
        for f in _list(s, "files", source, f"task {key!r}"):
            if not (isinstance(f, dict) and f.get("link") == "output"):
                continue
            if "sizeInBytes" in f:
                out += _size(f["sizeInBytes"], source, key)
            else:  # schemas up to 1.3: `size` in KB
                out += 1000 * _size(f.get("size", 0), source, key)
        program = (s.get("command") or {}).get("program") or s.get("category") or key
        runtime = s.get("runtimeInSeconds", s.get("runtime"))
        tasks.append(_Task(key, str(s.get("id", key)), str(program), runtime, out, _links(key, s, source)))
    return tasks


def _size(value: Any, source: str, key: str) -> float:
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = -1.0
    if not math.isfinite(size) or size < 0:
        raise ScaleError(f"{source}: task {key!r}: a file size is {value!r} (must be a number >= 0)")
    return size
