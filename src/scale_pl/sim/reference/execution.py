"""What really happens on the servers (docs/model.md, event semantics 3-5), in plain Python.

Shared by the reference simulator, the one-environment engine (``schedule``) and ``replay``
(which plays the cluster against the placement service), so that the actual start and finish of
a task are computed by one piece of code, float operation for float operation.
"""

from __future__ import annotations

from collections.abc import Sequence

from scale_pl.sim.system.cluster import Network


def transfer_delay(network: Network, output_mb: Sequence[float], parents: Sequence[int], server_of, n: int) -> float:
    """Transfer delay of a task on server ``n``: 0 if every parent ran on ``n``, else the largest
    network latency + output_mb / bandwidth over the parents on other servers (transfers overlap).

    ``server_of[p]`` is the server of parent ``p``.
    """
    costs = [network.latency + output_mb[p] / network.bandwidth_mbps for p in parents if server_of[p] != n]
    return max(costs, default=0.0)


class ServerSlots:
    """The slots of every server as they really run: each server runs its tasks FIFO, each on its
    earliest free slot (lowest slot index on ties), with no preemption and no back-filling.

    Args:
        slots: the number of slots of each server.
    """

    def __init__(self, slots: Sequence[int]) -> None:
        self.slot_free = [[0.0] * int(s) for s in slots]

    def free(self, n: int) -> float:
        """When server ``n``'s earliest slot really frees."""
        return min(self.slot_free[n])

    def run(self, n: int, earliest: float, latency: float, work: float, speed: float) -> tuple[float, float]:
        """Run a task on server ``n`` that may start at ``earliest`` (ready + transfer).

        Returns (start, finish): start = max(earliest, earliest free slot), finish = start +
        latency + work / speed (in this order of operations, as both simulators compute it).
        """
        free = min(self.slot_free[n])
        slot = self.slot_free[n].index(free)  # the earliest free slot, lowest index on ties
        start = max(earliest, free)
        finish = start + latency + work / speed
        self.slot_free[n][slot] = finish
        return start, finish
