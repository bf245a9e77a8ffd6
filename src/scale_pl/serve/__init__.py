"""The online placement service (``python -m scale_pl serve``), its journal and ``replay``.

An agent runtime submits workflows and reports task starts and finishes; the service answers with
placements decided by the one-environment engine that ``schedule`` runs (:mod:`scale_pl.sim.single`). See
``docs/serve.md``.
"""
