"""Against a real `prefect server start` on loopback: PREFECT_API_URL set, the run is recorded there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def test_stage_run_is_recorded_on_the_configured_server(prefect_server, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_HOME": str(tmp_path / "client-home")}
    store = tmp_path / "store"
    before = {r["id"] for r in httpx.post(f"{prefect_server}/flow_runs/filter", json={}, timeout=10).json()}
    done = subprocess.run(
        [str(BIN / "rungs"), "--store", str(store), "stage", "corpus", "--no-progress", "model=tiny"],
        check=False, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "corpus:v1" in done.stdout
    runs = [r for r in httpx.post(f"{prefect_server}/flow_runs/filter", json={}, timeout=10).json() if r["id"] not in before]
    assert [(r["name"], r["state_type"]) for r in runs] == [("stage corpus", "COMPLETED")]
    artifacts = httpx.post(f"{prefect_server}/artifacts/filter", json={}, timeout=10).json()
    cards = [a for a in artifacts if a["key"] == "corpus-metrics" and a["flow_run_id"] == runs[0]["id"]]
    assert cards and "documents_kept" in cards[0]["data"]
