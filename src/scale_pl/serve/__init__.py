"""The online placement service (``python -m scale_pl serve``), its journal and ``replay``.

An agent runtime submits workflows and reports task starts and finishes; the service answers with
placements decided by the simulator's own scheduler code (:mod:`scale_pl.sim.reference.knowledge`). See
``docs/serve.md``.
"""
