"""Episode metrics from the batched environment's state, one value per environment."""

from __future__ import annotations

import torch

from scale_pl.sim.batched.state import EnvState

METRIC_NAMES = ("art", "p95", "p99", "slowdown", "utilisation", "lower_bound", "makespan")


def episode_metrics(env: EnvState) -> dict[str, torch.Tensor]:
    """ART, p95, p99, mean slowdown, utilisation, the critical-path lower bound on ART and makespan, ``[B]`` each.

    Percentiles interpolate linearly between order statistics (numpy's default). Slowdown is a
    workflow's response time over its critical path on the fastest feasible servers with no
    queueing; the mean of those critical paths is the lower bound on ART. Utilisation is busy
    slot-seconds over total slots times (last finish - first arrival).
    """
    b = env.batch
    rt = env.response_times()  # [B, W+1], nan where padded
    cp = torch.where(b.wf_valid, env.critical_path, float("nan"))
    first = torch.where(b.wf_valid, b.arrival, float("inf")).amin(1)
    last = torch.where(torch.isfinite(env.finish), env.finish, float("-inf")).amax(1)
    capacity = (b.slots * b.server_valid).sum(1).to(rt.dtype)
    return {
        "art": rt.nanmean(1),
        "p95": rt.nanquantile(0.95, dim=1),
        "p99": rt.nanquantile(0.99, dim=1),
        "slowdown": (rt / cp).nanmean(1),
        "utilisation": env.busy / (capacity * (last - first)),
        "lower_bound": cp.nanmean(1),
        "makespan": last - first,
    }
