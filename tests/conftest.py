"""Suite-wide settings.

One intra-op thread: the tests use small tensors, where thread hand-offs dominate.

``make test`` runs the suite on two pytest-xdist workers with ``--dist loadgroup``: a group of
tests goes whole to one worker, and a test in no group goes wherever a worker is free. The groups
are made here from the fixtures a test uses, so that no costly fixture is built twice: the tests of
a module-scoped fixture go together (one group per file), and those of a shared session fixture
(below) go together wherever they live. Without xdist the marks do nothing.
"""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

SHARED_SESSION_FIXTURES = ("trained_run",)  # a real `fit` through the CLI (tests/training/conftest.py)


def xdist_group(item: pytest.Item) -> str | None:
    """The group of a test: its shared session fixture, else its file if it uses a module fixture."""
    info = getattr(item, "_fixtureinfo", None)  # doctests and other non-function items have none
    if info is None:
        return None
    shared = [name for name in SHARED_SESSION_FIXTURES if name in info.names_closure]
    if shared:
        return shared[0]
    scopes = {definition.scope for definitions in info.name2fixturedefs.values() for definition in definitions}
    return item.nodeid.split("::")[0] if "module" in scopes else None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = None if item.get_closest_marker("xdist_group") else xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
