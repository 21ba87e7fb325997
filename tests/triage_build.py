"""The default triage detector, built once per test session in the background (`python -m tests.triage_build STORE`).

It is the suite's slowest build (~10 min on 2 cores: one epoch of tuning over every train message): conftest
starts it as soon as the tests are collected, so the rest of the suite runs beside it on the other core, and
tests/test_triage.py's fixture waits for it and reads the artifact from STORE (the build is cached by
fingerprint, so the fixture's own `build` call finds it, or raises the error the background one hit).
"""

from __future__ import annotations

import sys
from pathlib import Path


def build_default(store: Path):
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store

    return build("triage", compose([]), {}, Store(store), progress=progress_factory(False)).artifact


if __name__ == "__main__":
    build_default(Path(sys.argv[1]))
