"""The reference simulator: plain sequential Python, the oracle of the differential tests (the
batched environment and the one-environment engine are both held to it)."""
