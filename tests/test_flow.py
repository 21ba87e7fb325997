"""The Prefect flows under Prefect's test harness: the ladder twice (second run all cache hits), one stage."""

from __future__ import annotations

import json

import pytest

from tests.test_stages import FAST


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


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


def test_second_flow_run_is_all_cache_hits(first_run):
    from flows.specialize import specialize

    root, rows = first_run
    again = specialize(overrides=FAST, store_root=str(root), show_progress=False)
    assert all(r["cached"] for r in again)
    assert [r["id"] for r in again] == [r["id"] for r in rows]


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
    assert main(["--store", str(root), "run", "--no-progress", "model=tiny", f"corpus.paths=[{bad}]"]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert {a.id for a in Store(root).artifacts()} == before
