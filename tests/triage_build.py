"""The default triage detector, built once per test session in a background process at `nice 19`.

Training it (the tuned embedder on every train message, then five networks) is the slowest thing the
suite does, ~7 min of both cores. Started when collection finds a test that needs it, it runs on the time
the other tests leave idle (servers starting, subprocesses, file work) and yields the cores to them;
tests/test_triage.py waits for it and then finds the artifact by fingerprint, as `rungs run` would.

    python -m tests.triage_build STORE     # what the session runs
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOG = "build.log"


def start(root: Path) -> subprocess.Popen:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOG, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "tests.triage_build", str(root / "store")],
                                cwd=Path(__file__).resolve().parent.parent, stdout=log, stderr=subprocess.STDOUT,
                                env=os.environ.copy(), start_new_session=True)


def build(store_root: Path):
    """The default `triage` artifact in `store_root`: built, or found by fingerprint when it is there."""
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build as build_stage
    from rungs.store import Store

    return build_stage("triage", compose([]), {}, Store(store_root), progress=progress_factory(False)).artifact


if __name__ == "__main__":
    print(build(Path(sys.argv[1])).id, flush=True)
