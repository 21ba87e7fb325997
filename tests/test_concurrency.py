"""Two `rungs run` processes at once on one store and one Prefect server: no corruption, no double builds.

Both runs share corpus, base, cpt and index (same fingerprints) and differ in sft (another lr), so they
race on the shared stages (each must be built once, the other process waiting on its fingerprint lock
and reusing it) and publish different sft and evaluate artifacts at the same time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from rungs.store import Store
from tests.tiny import TRIAGE

BIN = Path(sys.executable).parent
SMALL = ["model=tiny", "cpt.max_steps=6", "sft.max_steps=4", "cpt.checkpoint_every=3", "sft.checkpoint_every=2",
         "evaluate.perplexity.min_tokens=2000",
         "evaluate.answers.paths=[]", *TRIAGE]  # answers are scored in tests/test_answer_eval.py


def test_two_runs_at_once_build_each_fingerprint_once(prefect_server, tmp_path):
    prefect_api = prefect_server
    store_root = tmp_path / "store"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "RUNGS_STORE": str(store_root),
           "PREFECT_HOME": str(tmp_path / "client-home"), "OMP_NUM_THREADS": "1"}
    runs = {"a": [*SMALL, "sft.lr=5e-3"], "b": [*SMALL, "sft.lr=1e-3"]}
    procs = {
        name: subprocess.Popen(
            [str(BIN / "rungs"), "run", "--no-progress", "--json", *overrides],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        for name, overrides in runs.items()
    }
    results = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=400)
            assert proc.returncode == 0, f"run {name} failed:\n{err[-3000:]}"
            results[name] = json.loads(out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    store = Store(store_root)
    arts = store.artifacts()
    # every artifact is intact, and no fingerprint was built twice
    assert [(label, problems) for label, problems in store.verify_all() if problems] == []
    fingerprints = Counter(a.fingerprint for a in arts)
    assert all(n == 1 for n in fingerprints.values()), fingerprints
    kinds = Counter(a.kind for a in arts)
    assert {k: kinds[k] for k in ("corpus", "base", "cpt", "index", "sft", "evaluate")} == {
        "corpus": 1, "base": 1, "cpt": 1, "index": 1, "sft": 2, "evaluate": 2}
    assert sorted(a.version for a in store.artifacts("sft")) == [1, 2]

    # the shared stages: one process built each, the other reused it
    a_rows = {r["stage"]: r for r in results["a"]}
    b_rows = {r["stage"]: r for r in results["b"]}
    for kind in ("corpus", "base", "cpt", "index"):
        assert a_rows[kind]["id"] == b_rows[kind]["id"]
        assert sorted([a_rows[kind]["cached"], b_rows[kind]["cached"]]) == [False, True], kind
    for kind in ("sft", "evaluate"):
        assert a_rows[kind]["id"] != b_rows[kind]["id"]
        assert not a_rows[kind]["cached"] and not b_rows[kind]["cached"]
    assert store.get(b_rows["evaluate"]["id"]).inputs["sft"] == b_rows["sft"]["id"]

    # the event log: every line whole JSON, one publish per artifact, latest aliases consistent
    lines = (store_root / "_log" / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    publishes = [e for e in events if e["event"] == "publish"]
    assert sorted(e["id"] for e in publishes) == sorted(a.id for a in arts)
    assert sum(e["event"] == "alias" and e["name"] == "latest" for e in events) == len(arts)
    assert store.resolve("sft").id == [e["id"] for e in publishes if e["kind"] == "sft"][-1]
    assert not any((store_root / "_tmp").iterdir())
    assert not (store_root / "_scratch").exists() or not any((store_root / "_scratch").iterdir())
