"""Longest paths through the padded DAGs of a batch (bottom levels and critical paths)."""

from __future__ import annotations

import torch

from scale_pl.sim.batched.batch import WorkloadBatch


def longest_path(batch: WorkloadBatch, cost: torch.Tensor) -> torch.Tensor:
    """Longest path from each task to its workflow's end, its own cost included.

    ``lp[t] = cost[t] + max(lp[c] for c in children(t))`` (0 with no children), found by
    relaxing all tasks at once until nothing changes: at most depth-of-the-deepest-DAG rounds.

    Shapes: cost ``[B, T]`` -> ``[B, T]``.
    """
    src, dst = batch.edge_src, batch.child_idx  # one entry per edge; padding is sink -> sink (cost 0)
    lp = cost.clone()
    for _ in range(batch.type.shape[1] + 1):
        child_lp = torch.zeros_like(cost).scatter_reduce(1, src, lp.gather(1, dst), "amax")
        new = cost + child_lp
        if torch.equal(new, lp):
            break
        lp = new
    return lp
