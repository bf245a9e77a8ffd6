"""Reading a workload from one or several files: scale_pl workload files and WfFormat traces.

Each file is recognised by its content: a ``workflows`` list is a scale_pl workload file, a
``workflow`` object a WfFormat trace. The workflows of all files form one workload.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.io.schema import validate
from scale_pl.io.wfformat import WfFormatMapping, is_wfformat, load_mapping, workflow_from_wfformat
from scale_pl.io.workload_file import catalogue_from_data, read_json, workflows_from_data
from scale_pl.sim.generators.config import CONF_DIR, read_workload_config
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.workload import Workflow, Workload


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue of a workload config (default ``conf/workload/default.yaml``)."""
    path = Path(path) if path else CONF_DIR / "workload" / "default.yaml"
    data = read_workload_config(path)
    if not isinstance(data.get("catalogue"), dict):
        raise ScaleError(f"{path}: no 'catalogue' mapping in this workload config")
    try:
        return Catalogue.from_dict(data["catalogue"])
    except ScaleError as exc:
        raise ScaleError(f"{path}: catalogue: {exc}") from None


def wfformat_arrivals(count: int, arrivals: Sequence[float] | None, rate: float | None, seed: int) -> list[float]:
    """Arrival times of ``count`` WfFormat traces: as given, Poisson at ``rate`` (seeded), or all 0."""
    if arrivals is not None and rate is not None:
        raise ScaleError("give either arrival times or an arrival rate, not both")
    if arrivals is not None:
        if len(arrivals) != count:
            raise ScaleError(f"{len(arrivals)} arrival times given for {count} WfFormat trace(s)")
        return [float(a) for a in arrivals]
    if rate is not None:
        if not rate > 0:
            raise ScaleError(f"arrival rate must be > 0, got {rate}")
        return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, size=count)).tolist()
    return [0.0] * count


def load_workload(
    paths: Sequence[str | Path],
    *,
    workload_config: str | Path | None = None,
    wfformat_config: str | Path | None = None,
    arrivals: Sequence[float] | None = None,
    arrival_rate: float | None = None,
    seed: int = 0,
) -> Workload:
    """One workload from workload files and WfFormat traces, in the order given.

    Args:
        paths: the files.
        workload_config: where the catalogue comes from when no workload file embeds one
            (default ``conf/workload/default.yaml``). Files that embed one must all agree.
        wfformat_config: the program-to-type mapping of WfFormat traces
            (default ``conf/wfformat/default.yaml``).
        arrivals: arrival times of the WfFormat traces, one per trace, in order.
        arrival_rate: or Poisson arrivals of the traces at this rate (per second), seeded by ``seed``.
            Neither: every trace arrives at 0. Workload files keep their own arrivals.

    Workflow ids stay as written; an id already taken by an earlier file gets ``#2``, ``#3``, ...
    (a trace's id is its file name without ``.json``).
    """
    if not paths:
        raise ScaleError("no workload file given")
    loaded = [(Path(p), read_json(p)) for p in paths]
    catalogue: Catalogue | None = None
    catalogue_source = None
    for path, data in loaded:
        if is_wfformat(data):
            continue
        if not isinstance(data, dict) or "workflows" not in data:
            raise ScaleError(
                f"{path}: neither a scale_pl workload file (with a 'workflows' list) "
                "nor a WfFormat trace (with a 'workflow' object)"
            )
        validate(data, "workload", str(path))
        embedded = catalogue_from_data(data, str(path))
        if embedded is not None and catalogue is not None and embedded.primitives != catalogue.primitives:
            raise ScaleError(f"{path}: its catalogue differs from the one in {catalogue_source}")
        if embedded is not None and catalogue is None:
            catalogue, catalogue_source = embedded, path
    catalogue = catalogue or load_catalogue(workload_config)
    n_traces = sum(is_wfformat(data) for _, data in loaded)
    mapping = load_mapping(wfformat_config) if n_traces else WfFormatMapping()
    trace_arrivals = iter(wfformat_arrivals(n_traces, arrivals, arrival_rate, seed))
    flows: list[Workflow] = []
    taken: set[str] = set()
    for path, data in loaded:
        if is_wfformat(data):
            wid = _unique(path.name.removesuffix(".json"), taken)
            flows.append(workflow_from_wfformat(data, str(path), catalogue, mapping, wid, next(trace_arrivals)))
        else:
            for f in workflows_from_data(data, catalogue, str(path)):
                f.id = _unique(f.id, taken)
                flows.append(f)
    return Workload(catalogue, flows)


def _unique(wid: str, taken: set[str]) -> str:
    new, k = wid, 1
    while new in taken:
        k += 1
        new = f"{wid}#{k}"
    taken.add(new)
    return new
