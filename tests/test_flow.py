"""The Prefect flows under Prefect's test harness: the ladder twice (second run all cache hits, one Hydra
composition), one stage, and the DAG running independent stages at once."""

from __future__ import annotations

import json
import threading

import pytest

from tests.test_stages import FAST
from tests.tiny import TRIAGE


@pytest.fixture(scope="module")
def first_run(prefect_harness, tmp_path_factory):
    from flows.specialize import specialize

    root = tmp_path_factory.mktemp("flowstore")
    return root, specialize(overrides=FAST, store_root=str(root), show_progress=False)


def test_flow_builds_every_stage_with_prefect_run_ids(first_run):
    from rungs.store import Store

    root, rows = first_run
    assert [r["stage"] for r in rows] == ["corpus", "base", "cpt", "index", "triage", "sft", "evaluate"]
    assert not any(r["cached"] for r in rows)
    manifest = Store(root).resolve("cpt:v1").manifest
    assert manifest["run"]["prefect_flow_run_id"] and manifest["run"]["prefect_task_run_id"]
    assert manifest["inputs"] == {"base": rows[1]["id"], "corpus": rows[0]["id"]}


def test_second_flow_run_is_all_cache_hits_with_one_composition(first_run, monkeypatch, tmp_path):
    from flows.specialize import specialize
    from rungs.kernel import _compose

    root, rows = first_run
    monkeypatch.setenv("RUNGS_CACHE", str(tmp_path / "cache"))  # nothing remembered from earlier processes
    composed = []
    real = _compose._compose
    monkeypatch.setattr(_compose, "_compose", lambda overrides: composed.append(overrides) or real(overrides))
    _compose._cache.clear()  # as in a fresh `rungs run` process
    again = specialize(overrides=FAST, store_root=str(root), show_progress=False)
    assert all(r["cached"] for r in again)
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert composed == [tuple(FAST)]  # the flow, its name and every stage task share one composition


def test_index_runs_while_cpt_does(prefect_harness, tmp_path, monkeypatch):
    """The flow is a DAG: index needs only the corpus, so it runs beside base and cpt. Each of the two
    stages waits, inside its run, until the other has started: run one after the other, they would never
    meet, and the test would fail after two minutes."""
    import stages.cpt
    import stages.index
    from flows.specialize import specialize
    from tests.test_runs import _client

    started = {"cpt": threading.Event(), "index": threading.Event()}

    def meeting(kind: str, other: str, run):
        def met(cfg, inputs, out, progress, scratch):
            started[kind].set()
            assert started[other].wait(120), f"{other} did not start while {kind} ran"
            return run(cfg, inputs, out, progress, scratch)

        return met

    monkeypatch.setattr(stages.cpt, "run", meeting("cpt", "index", stages.cpt.run))
    monkeypatch.setattr(stages.index, "run", meeting("index", "cpt", stages.index.run))
    rows = specialize(overrides=[*FAST, "pipeline.stages=[corpus,base,cpt,index]", "cpt.max_steps=5"],
                      store_root=str(tmp_path / "store"), show_progress=False)
    assert [r["stage"] for r in rows] == ["corpus", "base", "cpt", "index"] and not any(r["cached"] for r in rows)

    from uuid import UUID

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from rungs.ops import list_runs
    from rungs.store import Store

    flow_run_id = UUID(list_runs(Store(tmp_path / "store"))[0]["run"])
    with _client() as client:
        runs = {r.name: r for r in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))}
    cpt, index = runs["cpt"], runs["index"]
    assert index.start_time < cpt.end_time and cpt.start_time < index.end_time  # Prefect saw them overlap too


def test_each_stage_publishes_a_markdown_artifact(first_run):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read(key):
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))

    _, rows = first_run
    for row in rows:
        found = asyncio.run(read(f"{row['stage']}-metrics"))
        assert found and any(row["id"] in (a.data or "") for a in found), row["stage"]


def test_stage_flow_runs_one_rung_against_chosen_inputs(first_run):
    from flows.specialize import stage
    from rungs.store import Store

    root, rows = first_run
    row = stage("cpt", overrides=["cpt.max_steps=5"], input_refs={"base": "base:v1", "corpus": "corpus@latest"}, store_root=str(root), show_progress=False)
    store = Store(root)
    art = store.resolve(row["id"])
    assert art.ref == "cpt:v2" and not row["cached"]
    assert art.inputs == {"base": rows[1]["id"], "corpus": rows[0]["id"]}
    assert art.manifest["config"]["cpt"]["max_steps"] == 5
    assert json.loads((art.path / "history.json").read_text())[-1]["step"] == 5


def test_cli_run_prints_the_summary_table(first_run, capsys):
    from rungs.cli import main

    root, rows = first_run
    assert main(["--store", str(root), "run", "--no-progress", *FAST]) == 0
    out = capsys.readouterr().out
    for row in rows:
        assert row["ref"] in out and row["id"] in out
    assert out.count("cached") >= len(rows)


def test_cli_reports_bad_input_with_file_and_line_and_publishes_nothing(first_run, tmp_path, capsys):
    from rungs.cli import main
    from rungs.store import Store

    root, _ = first_run
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"text": "A first document about asthma inhalers and triggers."}\n{"text": oops}\n')
    before = {a.id for a in Store(root).artifacts()}
    assert main(["--store", str(root), "run", "--no-progress", "model=tiny", *TRIAGE, f"corpus.paths=[{bad}]"]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert {a.id for a in Store(root).artifacts()} == before
