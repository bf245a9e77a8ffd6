"""Evaluation across cluster sizes: learned policies and heuristics on identical seeded workloads."""
