"""Shared fixtures: real helm, the real local OCI registry and the real local Kubernetes control plane.

They come from toolkit.localenv and are session-scoped: built once (cached in ~/.cache/chartkit), started once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is absent at {CORPUS}")
    return CORPUS
