"""Shared fixtures of the io tests: a small generator and cluster."""

from __future__ import annotations

import pytest

from scale_pl.sim.generators.config import load_cluster_spec, load_generator


@pytest.fixture(scope="session")
def generator():
    return load_generator(num_workflows=6)


@pytest.fixture(scope="session")
def small_cluster(generator):
    return load_cluster_spec().make(6, generator.catalogue)
