"""The WfFormat importer: the real traces of tests/data/wfinstances (schema 1.5) and a 1.4-shaped trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.errors import ScaleError
from scale_pl.io.cluster_file import write_cluster
from scale_pl.io.wfformat import WfFormatMapping, load_mapping, workflow_from_wfformat
from scale_pl.io.workload_file import write_workload
from scale_pl.io.workload_sources import load_catalogue, load_workload, wfformat_arrivals
from scale_pl.sim.batched.rollout import simulate
from scale_pl.sim.generators.config import load_cluster_spec
from tests.io.validate_schedule import validate_schedule

WFINSTANCES = Path(__file__).resolve().parents[1] / "data" / "wfinstances"
TRACES = sorted(WFINSTANCES.glob("*.json")) or [None]  # None: fail (never skip) when the folder is missing


def _trace(path: Path | None) -> Path:
    if path is None:
        pytest.fail(f"no WfInstances traces in {WFINSTANCES}: tests/data/wfinstances/ is part of the repository")
    return path


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem if p else "missing")
def test_wfinstances_trace_imports_runtime_sizes_and_edges(path, catalogue):
    path = _trace(path)
    raw = json.loads(path.read_text())
    spec, execution = raw["workflow"]["specification"], raw["workflow"]["execution"]
    wl = load_workload([path])
    (f,) = wl.workflows
    assert f.id == path.stem and f.arrival == 0.0
    assert f.task_ids == [t["id"] for t in spec["tasks"]]
    runtime = {t["id"]: t["runtimeInSeconds"] for t in execution["tasks"]}
    np.testing.assert_array_equal(f.work, [runtime[t] for t in f.task_ids])
    np.testing.assert_array_equal(f.expected_work, f.work)
    sizes = {x["id"]: x["sizeInBytes"] for x in spec["files"]}
    out = [sum(sizes[x] for x in t["outputFiles"]) / 1e6 for t in spec["tasks"]]
    np.testing.assert_allclose(f.output_mb, out, rtol=1e-12)
    parents = {(p, t["id"]) for t in spec["tasks"] for p in t["parents"]}
    assert {(f.task_ids[a], f.task_ids[b]) for a, b in f.edges} == parents
    programs = {t["id"]: t["command"]["program"] for t in execution["tasks"]}
    mapping = load_mapping()
    assert [catalogue.names[k] for k in f.types] == [mapping.type_for(programs[t]) for t in f.task_ids]


def test_wfinstances_traces_combine_with_poisson_arrivals(catalogue):
    paths = [_trace(p) for p in TRACES]
    wl = load_workload(paths + paths[:1], arrival_rate=0.05, seed=7)
    arrivals = wfformat_arrivals(len(paths) + 1, None, 0.05, 7)
    assert [f.arrival for f in wl.workflows] == sorted(arrivals)
    assert sorted(f.id for f in wl.workflows) == sorted([p.stem for p in paths] + [paths[0].stem + "#2"])
    again = load_workload(paths + paths[:1], arrival_rate=0.05, seed=7)
    assert [f.arrival for f in again.workflows] == [f.arrival for f in wl.workflows]
    given = load_workload(paths[:2], arrivals=[5.0, 1.5])
    assert [(f.id, f.arrival) for f in given.workflows] == [(paths[1].stem, 1.5), (paths[0].stem, 5.0)]
    with pytest.raises(ScaleError, match="2 arrival times given for 1 WfFormat"):
        load_workload(paths[:1], arrivals=[1.0, 2.0])


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem if p else "missing")
def test_every_wfinstances_trace_schedules_with_every_heuristic(path, tmp_path):
    """Load, write as a workload file, schedule with each heuristic, and re-check from the files alone."""
    wl = load_workload([_trace(path)])
    cluster = load_cluster_spec().make(6, wl.catalogue)
    write_workload(wl, tmp_path / "w.json")
    write_cluster(cluster, tmp_path / "c.yaml")
    for name in HEURISTICS:
        sched = simulate(wl, cluster, make_heuristic(name, seed=1)).to_dict()
        validate_schedule(tmp_path / "w.json", tmp_path / "c.yaml", sched)


def _v14_trace() -> dict:
    """A schema-1.4 shaped trace: tasks under workflow.tasks, inline files with link and size."""
    return {
        "name": "tiny",
        "schemaVersion": "1.4",
        "workflow": {
            "makespanInSeconds": 10,
            "executedAt": "2021-01-01T00:00:00Z",
            "tasks": [
                {"name": "fetch_1", "type": "compute", "command": {"program": "wget"}, "runtimeInSeconds": 2.5,
                 "parents": [], "files": [{"name": "a", "sizeInBytes": 3_000_000, "link": "output"},
                                          {"name": "in", "sizeInBytes": 9e9, "link": "input"}]},
                {"name": "crunch_1", "type": "compute", "category": "crunch", "runtime": 4.0,
                 "parents": ["fetch_1"], "files": [{"name": "b", "size": 500, "link": "output"}]},
                {"name": "crunch_2", "type": "compute", "runtimeInSeconds": 1.0, "parents": ["fetch_1"],
                 "children": ["join"]},
                {"name": "join", "type": "compute", "runtimeInSeconds": 0.5, "parents": ["crunch_1"]},
            ],
        },
    }  # fmt: skip


def test_schema_14_shape(catalogue):
    mapping = WfFormatMapping.from_dict(
        {"rules": [{"match": "wget", "type": "tool_api"}, {"match": "crunch$", "type": "vision"}], "work_scale": 2.0}
    )
    f = workflow_from_wfformat(_v14_trace(), "tiny.json", catalogue, mapping, "tiny", 3.0)
    assert f.task_ids == ["fetch_1", "crunch_1", "crunch_2", "join"]
    assert [catalogue.names[k] for k in f.types] == ["tool_api", "vision", "code_exec", "code_exec"]
    np.testing.assert_array_equal(f.work, [5.0, 8.0, 2.0, 1.0])
    np.testing.assert_allclose(f.output_mb, [3.0, 0.5, 0.0, 0.0])  # `size` is KB (schema <= 1.3)
    assert sorted((f.task_ids[a], f.task_ids[b]) for a, b in f.edges) == [
        ("crunch_1", "join"), ("crunch_2", "join"), ("fetch_1", "crunch_1"), ("fetch_1", "crunch_2")
    ]  # fmt: skip
    assert f.arrival == 3.0


def test_unknown_type_names_file_and_task(catalogue):
    mapping = WfFormatMapping.from_dict({"rules": [{"match": "wget", "type": "quantum"}]})
    with pytest.raises(ScaleError, match=r"tiny\.json: task 'fetch_1' \(program 'wget'\) maps to type 'quantum'"):
        workflow_from_wfformat(_v14_trace(), "tiny.json", catalogue, mapping, "tiny")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["workflow"]["tasks"][3]["parents"].append("ghost"), r"task 'join' refers to task 'ghost'"),
        (lambda t: t["workflow"]["tasks"][0]["parents"].append("join"), r"cycle through task"),
        (lambda t: t["workflow"]["tasks"][1].pop("runtime"), r"task 'crunch_1' has no runtime"),
        (lambda t: t["workflow"]["tasks"][1].update(runtime=-1), r"task 'crunch_1' has runtime -1"),
        (lambda t: t["workflow"]["tasks"][1].update(runtime="fast"), r"task 'crunch_1' has runtime 'fast'"),
        (lambda t: t["workflow"]["tasks"].append(dict(t["workflow"]["tasks"][0])), r"duplicate task id 'fetch_1'"),
        (lambda t: t["workflow"].update(tasks=[]), r"the trace has no tasks"),
        (lambda t: t["workflow"].pop("tasks"), r"neither workflow.specification"),
    ],
)
def test_bad_traces_name_the_file_and_task(edit, message, catalogue):
    trace = _v14_trace()
    edit(trace)
    with pytest.raises(ScaleError, match=r"^tiny\.json: .*" + message):
        workflow_from_wfformat(trace, "tiny.json", catalogue, WfFormatMapping(), "tiny")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rules": [{"match": "(", "type": "x"}]}, r"rules\[0\]: bad regular expression"),
        ({"rules": [{"regex": "a", "type": "x"}]}, r"rules\[0\]: expected \{match: REGEX, type: PRIMITIVE\}"),
        ({"defualt": "code_exec"}, r"unexpected key 'defualt'"),
        ({"work_scale": 0}, r"work_scale must be > 0"),
    ],
)
def test_bad_mapping_config(tmp_path, config, message):
    path = tmp_path / "map.yaml"
    path.write_text(json.dumps(config))
    with pytest.raises(ScaleError, match=rf"^{path}: {message}"):
        load_mapping(path)


def test_default_mapping_rules():
    mapping = load_mapping()
    assert mapping.type_for("fasterq-dump") == "tool_api"
    assert mapping.type_for("bowtie2") == "code_exec"
    assert mapping.type_for("my_wget") == "code_exec"  # rules match the start of the name
