"""The scheduling simulators and what they simulate.

- :mod:`scale_pl.sim.system`: the system model's data (task catalogue, clusters, workloads) and the
  observation every scheduler decides on.
- :mod:`scale_pl.sim.generators`: seeded workload generators (the agentic patterns) and the YAML
  configs that build them.
- :mod:`scale_pl.sim.batched`: :class:`~scale_pl.sim.batched.env.SchedulingEnv`, the torch simulator
  batched over environments (training, batched evaluation), with its belief, features and metrics.
- :mod:`scale_pl.sim.reference`: the plain-Python event simulator (the oracle of the differential
  tests) and the scheduler's knowledge it shares with ``scale_pl serve``.

Imports run downwards: ``batched`` and ``reference`` use ``system``; ``generators`` uses ``system``;
nothing here imports models, algorithms, evaluation or the service.
"""
