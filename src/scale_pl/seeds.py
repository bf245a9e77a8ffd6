"""Seed ranges, kept apart so that no choice is ever made on test workloads.

Training pools use ``seed * 100_003 + i`` (small seeds); validation (checkpoint choice) and test
(reported numbers) workloads use the bases below plus ``1000 x N + i``; the heuristics table
uses ``10_000 + i``.
"""

VAL_SEED_BASE = 1_000_000
TEST_SEED_BASE = 2_000_000
