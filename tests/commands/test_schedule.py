"""``python -m scale_pl schedule``: real traces through the CLI, Gantt output, and bad input.

Every bad input gives exit code 2, one line on stderr naming the file and the item, no traceback,
and no output file (nor temporary file) left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scale_pl.__main__ import main
from scale_pl.io.cluster_file import write_cluster
from scale_pl.io.workload_file import write_workload
from scale_pl.io.workload_sources import load_catalogue, load_workload
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec
from tests.io.validate_schedule import validate_schedule

WFINSTANCES = Path(__file__).resolve().parents[1] / "data" / "wfinstances"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _traces() -> list[Path]:
    traces = sorted(WFINSTANCES.glob("*.json"))
    if not traces:
        pytest.fail(f"no WfInstances traces in {WFINSTANCES}: tests/data/wfinstances/ is part of the repository")
    return traces


@pytest.fixture
def cluster(tmp_path) -> Path:
    path = tmp_path / "c.yaml"
    write_cluster(load_cluster_spec().make(6, load_catalogue()), path)
    return path


def test_all_traces_together_with_gantt(tmp_path, cluster, capsys):
    traces = _traces()
    out, gantt = tmp_path / "s.json", tmp_path / "g.png"
    rc, stdout, err = cli(capsys, "schedule", "--workload", *traces, "--cluster", cluster, "--policy", "rank_eft",
                          "--arrival-rate", 0.02, "--seed", 3, "--out", out, "--gantt", gantt,
                          "--color-by", "workflow")  # fmt: skip
    assert rc == 0, err
    assert (
        f"{sum(len(json.loads(p.read_text())['workflow']['specification']['tasks']) for p in traces)} tasks" in stdout
    )
    assert gantt.read_bytes()[:8] == PNG_MAGIC
    # Re-check from files alone: the traces as the importer reads them, written as a workload file.
    write_workload(load_workload(traces, arrival_rate=0.02, seed=3), tmp_path / "w.json")
    validate_schedule(tmp_path / "w.json", cluster, out)


def test_class_mix_config_with_servers(tmp_path, capsys):
    trace = _traces()[0]
    out = tmp_path / "s.json"
    rc, _, err = cli(capsys, "schedule", "--workload", trace, "--cluster", CONF_DIR / "cluster" / "default.yaml",
                     "--servers", 8, "--policy", "eft", "--out", out)  # fmt: skip
    assert rc == 0, err
    assert len(json.loads(out.read_text())["servers"]) == 8


def _flow(tasks, edges=()):
    return {"workflows": [{"id": "w", "arrival": 0.0, "tasks": tasks, "edges": [list(e) for e in edges]}]}


def _task(tid, type_="code_exec", work=1.0):
    return {"id": tid, "type": type_, "work": work}


def _trace_with(program: str, parents=()) -> dict:
    return {"name": "t", "schemaVersion": "1.5", "workflow": {
        "specification": {"tasks": [{"id": "a", "name": "a", "parents": list(parents), "children": []}], "files": []},
        "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 1.0, "command": {"program": program}}]}}}  # fmt: skip


ONE = _flow([_task("a")])
CYCLE = _flow([_task("a"), _task("b")], [("a", "b"), ("b", "a")])
NAN_WORK = '{"workflows": [{"id": "w", "arrival": 0, "tasks": [{"id": "a", "type": "code_exec", "work": NaN}]}]}'
NO_SERVER = "cpu.yaml: no server can run type 'llm_plan' (task 'a' of workflow 'w' in {tmp}/w.json)"
MAPPED = "w.json: task 'a' (program 'warp') maps to type 'warp_drive', which is not in the catalogue"

# (workload file content, extra arguments, what the one error line must contain)
BAD_INPUTS = [
    pytest.param(CYCLE, [], "w.json: workflow 'w': dependency cycle through task 'a'", id="cycle"),
    pytest.param(
        _flow([_task("b")], [("ghost", "b")]),
        [],
        "w.json: workflow 'w': edge 0 names parent 'ghost'",
        id="missing-parent",
    ),
    pytest.param(_flow([_task("a"), _task("a")]), [], "w.json: workflow 'w': duplicate task id 'a'", id="duplicate-id"),
    pytest.param(
        _flow([_task("a", work=-1.0)]), [], "w.json: workflow 'w', task 'a', work: -1.0 is less", id="neg-work"
    ),
    pytest.param(NAN_WORK, [], "w.json: workflow 'w': task 'a' has work nan", id="nan-work"),
    pytest.param(
        _flow([_task("a", "teleport")]),
        [],
        "w.json: workflow 'w': task 'a' has unknown type 'teleport'",
        id="unknown-type",
    ),
    pytest.param(_trace_with("warp"), ["--wfformat-config", "{tmp}/map.yaml"], MAPPED, id="unmapped-type"),
    pytest.param(_trace_with("x", ["ghost"]), [], "w.json: task 'a' refers to task 'ghost'", id="trace-missing-parent"),
    pytest.param(_flow([_task("a", "llm_plan")]), ["--cluster", "{tmp}/cpu.yaml"], NO_SERVER, id="no-server"),
    pytest.param(_flow([]), [], "w.json: workflow 'w', tasks: must not be empty", id="empty-workflow"),
    pytest.param('{"workflows": [', [], "w.json: malformed JSON at line 1", id="malformed-json"),
    pytest.param(None, [], "w.json: no such file", id="missing-workload"),
    pytest.param(ONE, ["--cluster", "{tmp}/none.yaml"], "none.yaml: no such file", id="missing-cluster"),
    pytest.param(
        ONE,
        ["--cluster", "{tmp}/typo.yaml"],
        "typo.yaml: class 'cpu': unexpected key 'slot'",
        id="typo",
    ),
    pytest.param(
        ONE, ["--policy", "{tmp}/model.ckpt"], "model.ckpt: not a readable PyTorch checkpoint", id="checkpoint"
    ),
    pytest.param(ONE, ["--policy", "heft9"], "unknown policy 'heft9'", id="unknown-policy"),
    pytest.param(_trace_with("x"), ["--arrivals", "1,2"], "2 arrival times given for 1 WfFormat", id="arrivals"),
]


def _setup_bad_input(tmp: Path, content) -> list[str]:
    """Write the inputs of a bad-input case; return the names of every file made (nothing else may appear)."""
    if content is not None:
        (tmp / "w.json").write_text(content if isinstance(content, str) else json.dumps(content))
    (tmp / "map.yaml").write_text(yaml.safe_dump({"rules": [{"match": "warp", "type": "warp_drive"}]}))
    cpu = {"classes": {"cpu": {"speeds": {"code_exec": 1.0, "tool_api": 1.0}, "slots": 2, "count": 2}}}
    (tmp / "cpu.yaml").write_text(yaml.safe_dump(cpu))
    cpu["classes"]["cpu"]["slot"] = 4
    (tmp / "typo.yaml").write_text(yaml.safe_dump(cpu))
    (tmp / "model.ckpt").write_bytes(b"\0")
    write_cluster(load_cluster_spec().make(4, load_catalogue()), tmp / "c.yaml")
    return sorted(p.name for p in tmp.iterdir())


@pytest.mark.parametrize(("content", "extra", "message"), BAD_INPUTS)
def test_bad_input_gives_one_line_and_no_output(tmp_path, capsys, content, extra, message):
    inputs = _setup_bad_input(tmp_path, content)
    args = {"--workload": str(tmp_path / "w.json"), "--cluster": str(tmp_path / "c.yaml"), "--policy": "eft"}
    extra = [e.format(tmp=tmp_path) for e in extra]
    args.update(zip(extra[::2], extra[1::2], strict=True))
    argv = [x for kv in args.items() for x in kv]
    rc, _, err = cli(capsys, "schedule", *argv, "--out", tmp_path / "s.json", "--gantt", tmp_path / "g.png")
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message.format(tmp=tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == inputs  # no s.json, no g.png, no temporary file


def test_real_cli_process(tmp_path):
    """``python -m scale_pl`` itself: exit code 2, one line, no traceback; then a good run."""
    (tmp_path / "w.json").write_text(json.dumps(_flow([_task("a"), _task("b")], [("a", "b"), ("b", "a")])))
    write_cluster(load_cluster_spec().make(4, load_catalogue()), tmp_path / "c.yaml")
    cmd = [sys.executable, "-m", "scale_pl", "schedule", "--workload", "w.json", "--cluster", "c.yaml",
           "--policy", "eft", "--out", "s.json", "--gantt", "g.png"]  # fmt: skip
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr == "error: w.json: workflow 'w': dependency cycle through task 'a'\n"
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "g.png").exists()
    (tmp_path / "w.json").write_text(json.dumps(_flow([_task("a"), _task("b")], [("a", "b")])))
    good = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    sched = json.loads((tmp_path / "s.json").read_text())
    assert [t["task"] for t in sched["tasks"]] == ["a", "b"]
    assert set(sched["metrics"]) >= {"avg_response_time", "p95_response_time", "makespan"}
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> tuple[Path, Path]:
    """A generated workload that keeps an 8-server cluster busy (rho 0.9), and the cluster, as files."""
    folder = tmp_path_factory.mktemp("busy")
    rc = main(["generate", "--out", str(folder / "w.json"), "--servers", "8", "--seed", "1", "--num-workflows", "40",
               "--rho", "0.9", "--cluster-out", str(folder / "c.yaml")])  # fmt: skip
    assert rc == 0
    return folder / "w.json", folder / "c.yaml"


def _eft_art(workload: Path, cluster: Path, tmp_path: Path, capsys) -> float:
    rc, _, err = cli(capsys, "schedule", "--workload", workload, "--cluster", cluster, "--policy", "eft",
                     "--cap", "none", "--out", tmp_path / "eft.json")  # fmt: skip
    assert rc == 0, err
    metrics = json.loads((tmp_path / "eft.json").read_text())["metrics"]
    assert "censored" not in metrics and "cap" not in metrics  # no cap, no censoring keys
    return metrics["avg_response_time"]


def test_the_cap_censors_a_run_certain_to_end_above_it(busy, tmp_path, capsys):
    workload, cluster = busy
    art = _eft_art(workload, cluster, tmp_path, capsys)
    out, gantt = tmp_path / "s.json", tmp_path / "g.png"
    rc, stdout, err = cli(capsys, "schedule", "--workload", workload, "--cluster", cluster, "--policy", "round_robin",
                          "--cap", "0.8", "--out", out, "--gantt", gantt)  # fmt: skip
    assert rc == 0, err
    assert stdout.startswith("censored: the ART is certain to exceed 0.8 x EFT") and stdout.count("\n") == 2
    sched = json.loads(out.read_text())
    m = sched["metrics"]
    assert m["censored"] is True and m["cap"] == pytest.approx(0.8 * art, rel=1e-12) and m["art_lower_bound"] > m["cap"]
    assert "avg_response_time" not in m  # a censored run never reports an ART below the cap
    total = sum(len(f["tasks"]) for f in json.loads(workload.read_text())["workflows"])
    assert 0 < len(sched["tasks"]) == m["placed_tasks"] < total
    assert any(w["completion"] is None for w in sched["workflows"])
    assert all(t["start"] >= t["ready"] and t["finish"] > t["start"] for t in sched["tasks"])
    assert gantt.read_bytes()[:8] == PNG_MAGIC  # the partial schedule still draws


def test_eft_is_never_censored_by_a_cap_of_one(busy, tmp_path, capsys):
    workload, cluster = busy
    art = _eft_art(workload, cluster, tmp_path, capsys)
    out = tmp_path / "s.json"
    rc, _, err = cli(capsys, "schedule", "--workload", workload, "--cluster", cluster, "--policy", "eft",
                     "--cap", "1", "--out", out)  # fmt: skip
    assert rc == 0, err
    m = json.loads(out.read_text())["metrics"]
    assert (m["censored"], m["cap"], m["avg_response_time"]) == (False, art, art)
    validate_schedule(workload, cluster, out)


@pytest.mark.parametrize("cap", ["-1", "many", "inf", "nan"])
def test_a_bad_cap_is_refused(busy, tmp_path, capsys, cap):
    workload, cluster = busy
    with pytest.raises(SystemExit) as stop:
        main(["schedule", "--workload", str(workload), "--cluster", str(cluster), "--policy", "eft", "--cap", cap,
              "--out", str(tmp_path / "s.json")])  # fmt: skip
    assert stop.value.code == 2
    assert "argument --cap: expected a factor >= 0 or 'none'" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_a_checkpoint_voting_with_itself_schedules_as_it_does(tmp_path, cluster, capsys):
    shipped = CONF_DIR.parent / "pretrained" / "scale_s0.ckpt"
    trace = WFINSTANCES / "blast-chameleon-small-001.json"
    schedules = []
    for policy in (f"{shipped}@eft:3:10", f"{shipped}+{shipped}@eft:3:10"):
        out = tmp_path / f"s{len(schedules)}.json"
        rc, _, err = cli(capsys, "schedule", "--workload", trace, trace, "--cluster", cluster, "--policy", policy,
                         "--arrival-rate", 0.02, "--seed", 1, "--out", out)  # fmt: skip
        assert rc == 0, err
        schedules.append(json.loads(out.read_text()))
    placed = [[(t["workflow"], t["task"], t["server"], t["start"]) for t in s["tasks"]] for s in schedules]
    assert placed[0] == placed[1] and len(placed[0]) == 2 * len(
        json.loads(trace.read_text())["workflow"]["specification"]["tasks"]
    )
