"""Fixtures for the local environment's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def own_cluster(cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A second cluster in a state dir of its own, for faults the shared one must not suffer; stopped afterwards."""
    from toolkit import localenv

    monkeypatch.setenv("CHARTKIT_STATE", str(tmp_path / "state"))
    info = localenv.start_cluster()
    yield info
    localenv.down()
