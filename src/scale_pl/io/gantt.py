"""Gantt charts of schedules: one row per server, grouped by class, sub-rows per slot.

Works from the schedule JSON alone (``tasks``, ``servers``, ``workflows``, ``metrics``), so any
saved schedule can be drawn again. matplotlib's object API is used (no pyplot), so nothing
depends on the interactive backend or leaks figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from scale_pl.errors import ScaleError

COLOR_BY = ("type", "workflow")
MAX_WORKFLOW_LEGEND = 12  # more workflows: cycling colours and no per-workflow legend
MAX_SERVER_LABELS = 40  # more servers: label the classes only
FORMATS = ("png", "pdf", "svg")


def gantt_format(path: str | Path) -> str:
    """The image format of ``path`` from its suffix; a one-line error for an unsupported one."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ScaleError(f"--gantt {path}: unsupported image type {fmt or '(none)'!r} (use .png, .pdf or .svg)")
    return fmt


def assign_slots(intervals: list[tuple[float, float]], slots: int) -> list[int]:
    """A sub-row per interval ``(start, finish)`` such that intervals in one sub-row never overlap.

    Greedy in order of start (then finish), lowest free sub-row first: optimal for intervals, so
    it needs no more sub-rows than the most tasks ever running at once (at most ``slots`` for a
    valid schedule). Touching intervals (finish == start) share a sub-row. If a schedule ever ran
    more than ``slots`` at once, extra sub-rows ``>= slots`` are used rather than overdrawing.
    """
    order = sorted(range(len(intervals)), key=lambda i: intervals[i])
    free_at: list[float] = [-math.inf] * slots
    row = [0] * len(intervals)
    for i in order:
        start, finish = intervals[i]
        r = next((k for k, t in enumerate(free_at) if t <= start), None)
        if r is None:
            free_at.append(-math.inf)
            r = len(free_at) - 1
        free_at[r] = finish
        row[i] = r
    return row


def _row_weight(slots: int) -> float:
    """Height of a server's row relative to a one-slot server: more slots, taller (sub-linearly)."""
    return 0.5 + 0.5 * math.sqrt(slots)


def plot_gantt(schedule: dict[str, Any], color_by: str = "type", title: str | None = None) -> Figure:
    """A Gantt chart of ``schedule`` (the schedule JSON as a dict).

    Args:
        schedule: ``tasks`` (server, start, finish, type, workflow), ``servers`` (id, class, slots),
            optionally ``workflows`` and ``metrics``.
        color_by: ``type`` (one colour per primitive type) or ``workflow``.
        title: figure title; default: servers, workflows and ART.
    """
    if color_by not in COLOR_BY:
        raise ScaleError(f"--color-by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    servers = schedule["servers"]
    n = len(servers)
    rows = _server_rows(schedule)
    colors, legend = _colors(schedule, color_by)
    total = sum(_row_weight(int(s["slots"])) for s in servers)
    height = 1.9 + total * max(0.11, min(0.32, 5.5 / total))
    fig = Figure(figsize=(12, height), dpi=110 if height < 12 else 90)
    ax = fig.add_subplot()
    verts, faces = [], []
    for task, (y0, h) in zip(schedule["tasks"], rows, strict=True):
        x0, x1 = float(task["start"]), float(task["finish"])
        verts.append([(x0, y0), (x0, y0 + h), (x1, y0 + h), (x1, y0)])
        faces.append(colors[task[color_by]])
    # A darker outline of the bar's own colour keeps very short tasks visible as thin lines.
    edges = [(r * 0.7, g * 0.7, b * 0.7, 1.0) for r, g, b, _ in faces]
    ax.add_collection(PolyCollection(verts, facecolors=faces, edgecolors=edges, linewidths=0.4))
    _server_axis(ax, schedule, total)
    xs = [float(t["finish"]) for t in schedule["tasks"]] or [1.0]
    arrivals = [float(w["arrival"]) for w in schedule.get("workflows", [])] or [0.0]
    lo, hi = min(0.0, min(arrivals)), max(xs)
    ax.set_xlim(lo, hi + 0.01 * (hi - lo or 1.0))
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title or _default_title(schedule, n), fontsize=11)
    if legend:
        ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False,
                  title=color_by, title_fontsize=9)  # fmt: skip
    else:
        ax.text(1.005, 1.0, f"colour = workflow\n{len(colors)} workflows,\n20 colours cycling", transform=ax.transAxes,
                va="top", fontsize=8)  # fmt: skip
    fig.tight_layout()
    return fig


def save_gantt(fig: Figure, path: str | Path, fmt: str | None = None) -> None:
    """Save ``fig`` to ``path`` (``fmt`` overrides the suffix, e.g. when writing a temporary file)."""
    fig.savefig(path, format=fmt or gantt_format(path), bbox_inches="tight")


def _server_rows(schedule: dict[str, Any]) -> list[tuple[float, float]]:
    """``(y0, height)`` of each task's bar: its server's row, split into slot sub-rows."""
    servers = schedule["servers"]
    index = {s["id"]: i for i, s in enumerate(servers)}
    y_top, y = [], 0.0
    for s in servers:
        y_top.append(y)
        y += _row_weight(int(s["slots"]))
    by_server: dict[int, list[int]] = defaultdict(list)
    for k, task in enumerate(schedule["tasks"]):
        if task["server"] not in index:
            raise ScaleError(f"schedule: task {task.get('task')!r} runs on unknown server {task['server']!r}")
        by_server[index[task["server"]]].append(k)
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(schedule["tasks"])
    for i, ks in by_server.items():
        slots = int(servers[i]["slots"])
        tasks = [schedule["tasks"][k] for k in ks]
        sub = assign_slots([(float(t["start"]), float(t["finish"])) for t in tasks], slots)
        n_sub = max(slots, max(sub) + 1)
        inner = _row_weight(slots) * 0.84
        h = inner / n_sub
        for k, r in zip(ks, sub, strict=True):
            out[k] = (y_top[i] + 0.08 * _row_weight(slots) + r * h, h * 0.92)
    return out


def _server_axis(ax, schedule: dict[str, Any], total: float) -> None:
    """Server (or class) labels, class separators and alternating class bands."""
    servers = schedule["servers"]
    n = len(servers)
    ticks, labels, bounds, y = [], [], [], 0.0
    groups: list[tuple[str, float, float, int, int]] = []  # class, y from, y to, count, slots
    for s in servers:
        w = _row_weight(int(s["slots"]))
        ticks.append(y + w / 2)
        bounds.append(y)
        labels.append(s["id"])
        if groups and groups[-1][0] == s["class"]:
            c, y0, _, count, slots = groups[-1]
            groups[-1] = (c, y0, y + w, count + 1, slots)
        else:
            groups.append((s["class"], y, y + w, 1, int(s["slots"])))
        y += w
    # Faint lines between servers, so the slot sub-rows of one server read as one row.
    ax.hlines(bounds[1:], 0, 1, transform=ax.get_yaxis_transform(), colors="0.8", linewidth=0.3, zorder=0.5)
    for g, (_, y0, y1, _, _) in enumerate(groups):
        if g % 2:
            ax.axhspan(y0, y1, color="0.95", zorder=0)
        if g:
            ax.axhline(y0, color="0.4", linewidth=0.8)
    if n <= MAX_SERVER_LABELS:
        ax.set_yticks(ticks, labels, fontsize=9 if n <= 16 else 7)  # server ids carry the class name
    else:
        ax.set_yticks(
            [(y0 + y1) / 2 for _, y0, y1, _, _ in groups],
            [f"{c}\n{count} x {slots} slot{'s' if slots > 1 else ''}" for c, _, _, count, slots in groups],
            fontsize=9,
        )
    ax.set_ylim(total, 0)
    ax.tick_params(axis="y", length=0)
    ax.set_ylabel("server" if n <= MAX_SERVER_LABELS else "servers by class")


def _colors(schedule: dict[str, Any], color_by: str) -> tuple[dict[str, Any], list[Patch]]:
    """A colour per type (sorted names, tab10) or per workflow (tab20, cycling); legend handles."""
    if color_by == "type":
        keys = sorted({t["type"] for t in schedule["tasks"]})
        cmap = colormaps["tab10"] if len(keys) <= 10 else colormaps["tab20"]
    else:
        keys = [w["id"] for w in schedule.get("workflows", [])]
        keys += sorted({t["workflow"] for t in schedule["tasks"]} - set(keys))
        cmap = colormaps["tab10"] if len(keys) <= 10 else colormaps["tab20"]
    colors = {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
    if color_by == "workflow" and len(keys) > MAX_WORKFLOW_LEGEND:
        return colors, []
    return colors, [Patch(facecolor=colors[k], label=str(k)) for k in keys]


def _default_title(schedule: dict[str, Any], n: int) -> str:
    parts = [f"{n} servers", f"{len(schedule.get('workflows', []))} workflows", f"{len(schedule['tasks'])} tasks"]
    metrics = schedule.get("metrics", {})
    if "avg_response_time" in metrics:
        parts.append(f"ART {metrics['avg_response_time']:.2f} s")
    if "makespan" in metrics:
        parts.append(f"makespan {metrics['makespan']:.1f} s")
    return ", ".join(parts)
