"""prefect.yaml for real: a loopback `prefect server start`, `prefect deploy --all`, a process worker
picking up a run of the nightly deployment, the run completing, and its release promoted in the store."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import yaml

from rungs.kernel import PROJECT_ROOT
from rungs.ops import decisions, list_runs
from rungs.store import Store
from tests.conftest import PREFECT

QUICK = ["model=tiny", "pipeline.stages=[corpus,base,evaluate]", "evaluate.perplexity.min_tokens=2000"]


def test_prefect_yaml_declares_the_nightly_ladder_and_one_deployment_per_rung():
    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    nightly = deployments["nightly"]
    assert nightly["entrypoint"] == "flows/specialize.py:specialize" and nightly["schedules"][0]["cron"] == "0 1 * * *"
    for kind in ("corpus", "base", "cpt", "sft", "index", "triage", "evaluate"):
        assert deployments[kind]["entrypoint"] == "flows/specialize.py:stage" and deployments[kind]["parameters"] == {"kind": kind}
    assert {d["work_pool"]["name"] for d in deployments.values()} == {"rungs"}


def test_nightly_deployment_runs_on_a_process_worker(prefect_server, tmp_path):
    from prefect.workers.process import ProcessWorker

    api = prefect_server
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(tmp_path / "client-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    pool = httpx.post(
        f"{api}/work_pools/",
        json={"name": "rungs", "type": "process", "base_job_template": ProcessWorker.get_default_base_job_template()},
        timeout=30,
    )
    assert pool.status_code == 201, pool.text
    deploy = subprocess.run(
        [str(PREFECT), "--no-prompt", "deploy", "--all"], check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    listed = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
    assert {d["name"] for d in listed} == {"nightly", "corpus", "base", "cpt", "sft", "index", "triage", "evaluate"}
    nightly = httpx.get(f"{api}/deployments/name/specialize/nightly", timeout=30).json()
    assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 1 * * *"]

    store = tmp_path / "store"
    params = {"overrides": QUICK, "store_root": str(store), "show_progress": False}
    created = httpx.post(f"{api}/deployments/{nightly['id']}/create_flow_run", json={"parameters": params}, timeout=30)
    assert created.status_code == 201, created.text  # the server's reason, not a KeyError on its error body
    run = created.json()
    worker = subprocess.Popen(
        [str(PREFECT), "worker", "start", "--pool", "rungs", "--type", "process", "--run-once"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=30).json()
            if state["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") or time.monotonic() > deadline:
                break
            time.sleep(1)
        worker.wait(120)
    finally:
        if worker.poll() is None:
            worker.kill()
        log = worker.stdout.read()
    assert state["state_type"] == "COMPLETED", log[-4000:]
    assert state["name"] == "specialize model=tiny: built corpus,base,evaluate; promoted evaluate:v1"

    # the release is production, by a decision the flow logged; the run is in the store's run log
    s = Store(store)
    assert s.resolve("evaluate@production").ref == "evaluate:v1" and s.resolve("base@production").ref == "base:v1"
    (decision,) = decisions(s)
    assert decision["outcome"] == "promoted" and decision["run"]["prefect_flow_run_id"] == run["id"]
    (recorded,) = list_runs(s)
    assert recorded["status"] == "completed" and recorded["prefect"]["deployment"] == "nightly" and recorded["run"] == run["id"]
    cards = httpx.post(f"{api}/artifacts/filter", json={}, timeout=30).json()
    assert {"corpus-metrics", "base-metrics", "evaluate-metrics", "promotion"} <= {a["key"] for a in cards}
