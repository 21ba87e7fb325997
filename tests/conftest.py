from __future__ import annotations

from pathlib import Path

import pytest

import rungs  # noqa: F401  (sets the offline environment before any HF import)
from rungs.config import PROJECT_ROOT, compose
from rungs.progress import progress_factory

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def store_root(tmp_path, monkeypatch) -> Path:
    """A fresh artifact store for one test, selected the way users do: RUNGS_STORE."""
    root = tmp_path / "store"
    monkeypatch.setenv("RUNGS_STORE", str(root))
    return root


@pytest.fixture
def progress():
    return progress_factory(enabled=False)


@pytest.fixture
def tiny_cfg():
    """model=tiny on the embedded sample corpus."""
    return compose(["model=tiny"])


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path
