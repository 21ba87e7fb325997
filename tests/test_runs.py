"""Nights under Prefect: a refused candidate and a failed night leave `production` untouched, say so in
the run's name, the store's run log and a notification; a transient lock wait times out and the retry
succeeds; bad input is not retried."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import pytest

from rungs.kernel import ConfigError, InputError, compose
from rungs.ops import decisions, gate_and_promote, list_runs
from rungs.store import Store
from tests.test_promote import make_release, production

QUICK = ["model=tiny", "pipeline.stages=[corpus,base,evaluate]", "evaluate.perplexity.min_tokens=2000"]  # the ladder's ends: seconds on tiny


@pytest.fixture(scope="module")
def webhook():
    """A loopback HTTP endpoint for apprise's json:// notifications; yields (url, received bodies)."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"json://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _task_runs(flow_run_id: str) -> dict[str, int]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with _client() as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {r.name: r.run_count for r in runs}


def _flow_run_name(flow_run_id: str) -> str:
    with _client() as client:
        return client.read_flow_run(UUID(flow_run_id)).name


def _excellent_production(store: Store) -> dict[str, str]:
    """A base-only release with perplexities no tiny random model can match, promoted."""
    rel = make_release(store, {"domain_independent_ppl_base": 1.5, "general_independent_ppl_base": 1.5}, rungs=("base",), index=False)
    gate_and_promote(store, rel["evaluate"].id, compose(["model=tiny"]).promote)
    return production(store)


@pytest.fixture(scope="module")
def refused_night(prefect_harness, webhook, tmp_path_factory):
    """A night whose candidate (a random tiny model) is far worse than production; shared, as it builds."""
    from flows.specialize import specialize

    url, received = webhook
    received.clear()
    store = Store(tmp_path_factory.mktemp("night") / "store")
    before = _excellent_production(store)
    rows = specialize(overrides=[*QUICK, f"ops.notify.urls=[{url}]"], store_root=str(store.root), show_progress=False)
    return store, before, rows, list(received)


def test_refused_night_keeps_production_and_says_so(refused_night):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    store, before, rows, received = refused_night
    assert [r["stage"] for r in rows] == ["corpus", "base", "evaluate"] and not any(r["cached"] for r in rows)
    assert production(store) == before
    d = decisions(store)[-1]
    assert d["outcome"] == "refused" and d["source"] == "flow" and d["candidate"]["id"] == rows[-1]["id"]
    assert any(r.startswith("domain_ppl: ") and r.endswith("worse") for r in d["reasons"])

    run = list_runs(store)[0]
    name = "specialize model=tiny: built corpus,base,evaluate; refused by the gate"
    assert run["status"] == "completed" and run["name"] == name and run["duration_s"] > 0
    assert run["promotion"]["outcome"] == "refused" and run["built"] == [r["ref"] for r in rows]
    assert d["run"]["prefect_flow_run_id"] == run["run"]
    assert _flow_run_name(run["run"]) == name
    with _client() as client:
        cards = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["promotion"])))
    assert any(rows[-1]["ref"] in (a.data or "") and "refused" in (a.data or "") for a in cards)
    assert [m["title"] for m in received] == [f"rungs: {name}"] and "domain_ppl" in received[0]["message"]


def test_failed_night_leaves_production_untouched_and_notifies(prefect_harness, tmp_path, webhook):
    from flows.specialize import specialize
    from rungs.cli import main

    url, received = webhook
    received.clear()
    store = Store(tmp_path / "store")
    before = _excellent_production(store)
    logged = len(decisions(store))
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"text": "A first document about asthma inhalers and triggers."}\n{"text": oops}\n')
    with pytest.raises(InputError, match="notes.jsonl:2") as raised:
        specialize(overrides=[*QUICK, f"corpus.paths=[{bad}]", f"ops.notify.urls=[{url}]"], store_root=str(store.root), show_progress=False)
    assert production(store) == before and len(decisions(store)) == logged

    run = list_runs(store)[0]
    assert run["status"] == "failed" and run["failed_stage"] == "corpus" and f"{bad}:2" in run["error"]
    assert run["name"] == f"specialize model=tiny: failed at corpus ({type(raised.value).__name__})" == _flow_run_name(run["run"])
    assert _task_runs(run["run"]) == {"corpus": 1}  # bad input is not transient: no retry
    assert len(received) == 1 and "failed at corpus" in received[0]["title"]
    assert "production untouched: evaluate@production = evaluate:v1" in received[0]["message"]

    # not capsys: Prefect's log handler must not be left bound to a capture that closes with this test
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--store", str(store.root), "runs"]) == 0
    assert "failed" in out.getvalue() and type(raised.value).__name__ in out.getvalue()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--store", str(store.root), "runs", "--status", "failed", "--json"]) == 0
    assert [r["run"] for r in json.loads(out.getvalue())] == [run["run"]]


HOLD = """
import sys, time
from rungs.store import Store
with Store(sys.argv[1]).building(sys.argv[2]):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_a_timed_out_lock_wait_is_retried_and_the_stage_completes(refused_night):
    """Another process holds the build lock of our base model (a night that overran, a stuck builder):
    the first attempt times out waiting, the retry after the backoff gets the lock and builds."""
    from flows.specialize import stage
    from rungs.curation import sources_digest
    from rungs.pipeline import fingerprint, resolve_inputs, stage_module

    store = refused_night[0]
    timeout_s = 6.0
    overrides = ["model=tiny", "seed=1", f"ops.stages.base.timeout_s={timeout_s}", "ops.stages.base.retries=1", "ops.retry_delay_s=0.5", "ops.jitter=0"]
    cfg = compose(overrides)
    inputs = resolve_inputs("base", store, cfg=cfg)
    fp = fingerprint("base", cfg, inputs, sources_digest(stage_module("base").sources(cfg)))
    # released 3 s after the first attempt's deadline (which the flow's start-up delays by < 3 s), and
    # long before the second attempt's: the base build takes about a second
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store.root), fp, str(timeout_s + 3.0)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        row = stage("base", overrides=overrides, store_root=str(store.root), show_progress=False)
        took = time.monotonic() - began
    finally:
        holder.kill()
        holder.wait()
    assert row["ref"] == "base:v3" and not row["cached"] and took > timeout_s
    assert store.get(row["id"]).inputs == {"corpus": inputs["corpus"].id}
    run = list_runs(store)[0]
    assert run["status"] == "completed" and run["built"] == ["base:v3"] and run["name"] == "stage base: built base:v3"
    assert _task_runs(run["run"]) == {"base": 2}


def test_transient_errors_are_the_configured_ones():
    from flows.resilience import is_transient, retry_delays, task_options

    ops = compose(["model=tiny"]).ops
    assert is_transient(TimeoutError("stuck"), ops.retry_on)
    assert is_transient(OSError(errno.ESTALE, "Stale file handle"), ops.retry_on)
    assert is_transient(ConnectionResetError(), ops.retry_on)  # a ConnectionError subclass
    assert not is_transient(PermissionError(errno.EACCES, "denied"), ops.retry_on)
    assert not is_transient(InputError("x.jsonl", "bad JSON", 2), ops.retry_on)
    assert not is_transient(ValueError("bug"), ops.retry_on)
    assert retry_delays(ops, 3) == [30.0, 60.0, 120.0]
    opts = task_options("cpt", ops)
    assert opts["retries"] == 2 and opts["timeout_seconds"] == 86400 and opts["retry_delay_seconds"] == [30.0, 60.0]
    with pytest.raises(ConfigError, match="NoSuchError"):
        task_options("cpt", compose(["model=tiny", "ops.retry_on=[NoSuchError]"]).ops)
