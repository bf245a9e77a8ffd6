"""One environment, one decision at a time: the engine of ``schedule`` and of ``scale_pl serve``.

The batched environment (:mod:`scale_pl.sim.batched`) is for training and batched evaluation; the
reference simulator (:mod:`scale_pl.sim.reference`) is the plain oracle. This engine keeps each
server's belief up to date on its own events and builds the observation in arrays, so that a
decision costs O(servers whose state changed) in Python plus a few array expressions over N.
"""
