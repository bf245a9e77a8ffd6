"""Gantt charts: slot sub-rows never overlap; charts render for 4 to 128 servers and both colourings."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PolyCollection

from scale_pl.errors import ScaleError
from scale_pl.io.gantt import assign_slots, gantt_format, plot_gantt, save_gantt

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _max_concurrency(intervals):
    events = sorted([(f, -1) for _, f in intervals] + [(s, 1) for s, _ in intervals])
    running = best = 0
    for _, d in events:
        running += d
        best = max(best, running)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10)), max_size=40))  # tasks take time
def test_assign_slots_never_overlaps_and_uses_no_more_rows_than_needed(raw):
    intervals = [(float(s), float(s + d)) for s, d in raw]
    need = _max_concurrency(intervals)
    rows = assign_slots(intervals, max(need, 1))
    assert all(r < max(need, 1) for r in rows)
    for i, (s1, f1) in enumerate(intervals):
        for j, (s2, f2) in enumerate(intervals[:i]):
            if rows[i] == rows[j]:
                assert f1 <= s2 or f2 <= s1, (intervals[i], intervals[j])


def test_assign_slots_adds_rows_rather_than_overdrawing():
    assert sorted(assign_slots([(0, 2), (0, 2), (1, 3)], 2)) == [0, 1, 2]


def _schedule(n_servers: int, n_workflows: int, slots: int = 2) -> dict:
    classes = ["gpu_large", "cpu_small"]
    servers = [{"id": f"{classes[i * 2 // n_servers]}-{i}", "class": classes[i * 2 // n_servers], "slots": slots}
               for i in range(n_servers)]  # fmt: skip
    tasks, workflows = [], []
    for w in range(n_workflows):
        workflows.append({"id": f"w{w}", "arrival": float(w), "completion": w + 5.0, "response_time": 5.0})
        for t in range(3):
            tasks.append({"workflow": f"w{w}", "task": f"t{t}", "type": ["llm_plan", "tool_api", "vision"][t],
                          "server": servers[(w + t) % n_servers]["id"], "ready": w + t, "start": w + t,
                          "finish": w + t + 1.5})  # fmt: skip
    return {"tasks": tasks, "workflows": workflows, "servers": servers,
            "metrics": {"avg_response_time": 5.0, "makespan": n_workflows + 5.0}}  # fmt: skip


@pytest.mark.parametrize("n", [4, 128])
@pytest.mark.parametrize("color_by", ["type", "workflow"])
def test_renders_png(tmp_path, n, color_by):
    sched = _schedule(n, 4 * n)
    fig = plot_gantt(sched, color_by)
    (ax,) = fig.axes
    (bars,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bars.get_paths()) == len(sched["tasks"])
    legend = ax.get_legend()
    if color_by == "type":
        assert [t.get_text() for t in legend.get_texts()] == ["llm_plan", "tool_api", "vision"]
    else:
        assert legend is None  # over 12 workflows: cycling colours, no per-workflow legend
    labels = [t.get_text() for t in ax.get_yticklabels()]
    by_class = ["gpu_large\n64 x 2 slots", "cpu_small\n64 x 2 slots"]
    assert labels == ([s["id"] for s in sched["servers"]] if n <= 40 else by_class)
    path = tmp_path / f"g{n}.png"
    save_gantt(fig, path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_height_grows_with_servers_and_slot_subrows_fit():
    small, large = plot_gantt(_schedule(4, 4)), plot_gantt(_schedule(128, 4))
    assert large.get_figheight() > 2 * small.get_figheight()
    # Two tasks at once on one 2-slot server: two sub-rows, within the server's row.
    sched = _schedule(1, 1, slots=2)
    for t in sched["tasks"]:
        t["start"], t["finish"] = 0.0, 1.0
    (ax,) = plot_gantt(sched).axes
    (bars,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    spans = sorted((p.vertices[:, 1].min(), p.vertices[:, 1].max()) for p in bars.get_paths())
    assert len(spans) == 3  # 3 tasks at once on 2 slots: drawn on a third sub-row, not overdrawn
    for (_, top), (bottom, _) in itertools.pairwise(spans):
        assert top <= bottom + 1e-12
    assert math.isclose(ax.get_ylim()[0], 0.5 + 0.5 * math.sqrt(2))


def test_bad_options():
    with pytest.raises(ScaleError, match="unsupported image type 'jpg'"):
        gantt_format("g.jpg")
    with pytest.raises(ScaleError, match="--color-by must be one of type, workflow"):
        plot_gantt(_schedule(4, 1), "server")
