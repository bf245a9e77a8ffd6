"""Random, valid observations for tests and benchmarks (no simulator needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scale_pl.sim.system.observation import NODE_STATES, Observation


def random_observation(
    batch_size: int,
    num_nodes: int,
    num_edges: int,
    num_servers: int,
    num_types: int = 6,
    num_classes: int = 4,
    feasible_prob: float = 0.7,
    min_nodes: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Observation:
    """A batch of random observations that honour the observation contract.

    Each environment gets a workflow of ``min_nodes`` to ``num_nodes`` real tasks (a prefix of the ``M``
    slots) and up to ``num_edges`` edges ``(parent, child)`` with ``parent < child`` among its
    real tasks (so a DAG; duplicates possible), a task to place among its real tasks, and at
    least one feasible server. Features have the right sizes and one-hot parts; the raw
    fields are random (``est_finish`` is ``inf`` at infeasible servers). Nothing is done.

    Args:
        batch_size: ``B``.
        num_nodes: ``M``, node slots per environment.
        num_edges: ``E``, edge slots per environment.
        num_servers: ``N``.
        num_types: ``K`` task types.
        num_classes: ``C`` server classes.
        feasible_prob: chance that a server is feasible (one is always made feasible).
        min_nodes: fewest real tasks per workflow (``num_nodes`` for full workflows).
        generator: CPU random source; the global one if None.
        device: where the tensors go.
    """
    b, m, e, n, g = batch_size, num_nodes, num_edges, num_servers, generator

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=g)

    def randint(high: int | torch.Tensor, *shape: int) -> torch.Tensor:
        return (rand(*shape) * high).long()

    if not 1 <= min_nodes <= m:
        raise ValueError(f"need 1 <= min_nodes <= num_nodes, got {min_nodes} and {m}")
    sizes = randint(m - min_nodes + 1, b) + min_nodes  # [B] real tasks per workflow
    node_mask = torch.arange(m) < sizes[:, None]
    current = randint(sizes, b)
    ends = randint(sizes[:, None, None], b, e, 2)  # two random real tasks per edge slot
    edges = torch.stack([ends.min(-1).values, ends.max(-1).values], dim=-1)
    edge_mask = (edges[..., 0] != edges[..., 1]) & (torch.arange(e) < randint(e + 1, b)[:, None])
    edges = edges.masked_fill(~edge_mask[..., None], 0)

    types = randint(num_types, b, m)
    states = randint(len(NODE_STATES), b, m)
    is_current = F.one_hot(current, m).float()
    nodes = (
        torch.cat(
            [
                F.one_hot(types, num_types).float(),
                rand(b, m, 2),  # expected work, bottom level
                F.one_hot(states, len(NODE_STATES)).float(),
                is_current[..., None],
            ],
            dim=-1,
        )
        * node_mask[..., None]
    )
    task_type = types.gather(1, current[:, None]).squeeze(1)
    task = torch.cat([F.one_hot(task_type, num_types).float(), rand(b, 5)], dim=-1)

    servers = torch.cat([F.one_hot(randint(num_classes, b, n), num_classes).float(), rand(b, n, 8)], dim=-1)
    mask = rand(b, n) < feasible_prob
    mask[torch.arange(b), randint(n, b)] = True
    est_finish = rand(b, n).masked_fill(~mask, float("inf"))
    obs = Observation(
        task=task,
        nodes=nodes,
        node_mask=node_mask,
        edges=edges,
        edge_mask=edge_mask,
        current=current,
        servers=servers,
        system=rand(b, num_classes + 2),
        mask=mask,
        est_finish=est_finish,
        backlog=rand(b, n),
        speed=rand(b, n),
        transfer=rand(b, n),
        bottom_level=rand(b),
        slack=rand(b),
        done=torch.zeros(b, dtype=torch.bool),
    )
    return obs.to(device)
