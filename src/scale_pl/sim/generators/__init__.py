"""Seeded workload generators (agentic patterns) and the YAML configs that build them."""
