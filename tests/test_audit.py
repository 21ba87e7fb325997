"""rungs audit (report files and what they say), rungs diff, rungs export-lineage (OpenLineage events)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid

import pytest

from rungs.cli import main
from rungs.store import Store

PREFECT_RUN = "0e6b4a4e-5b7c-4a4a-9a9a-123456789abc"
SOURCE_SHA = "ab" * 32


def _publish(store: Store, kind: str, files: dict, inputs=None, metrics=None, config=None, sources=None):
    with store.staging(kind) as out:
        for rel, content in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(content)
        return store.publish(
            kind,
            out,
            fingerprint=f"fp-{kind}-{len(store.artifacts(kind))}",
            inputs=inputs or {},
            config=config or {kind: {"lr": 0.001, "steps": 10}},
            metrics=metrics or {},
            sources=sources or {},
            duration_s=2.5,
            run={"prefect_flow_run_id": PREFECT_RUN, "prefect_flow_run_name": "specialize tiny"},
        )


@pytest.fixture
def chain(store_root):
    """corpus:v1 (from one raw file) -> cpt:v1 -> sft:v1 (production) and sft:v2 (other lr, better loss)."""
    store = Store()
    corpus = _publish(
        store, "corpus", {"documents.txt": "aspirin thins the blood"}, metrics={"documents": 1},
        sources={"corpora/medical/aspirin.md": {"sha256": SOURCE_SHA, "bytes": 23}},
    )
    cpt = _publish(store, "cpt", {"model/weights.bin": "w" * 100, "loss.png": "png"}, {"corpus": corpus}, {"heldout_ppl": 12.5})
    sft1 = _publish(store, "sft", {"adapter/adapter.bin": "a" * 10}, {"model": cpt}, {"loss": 0.7, "steps": 30},
                    config={"sft": {"lr": 0.001, "steps": 30}})
    sft2 = _publish(store, "sft", {"adapter/adapter.bin": "b" * 10}, {"model": cpt}, {"loss": 0.5, "steps": 30},
                    config={"sft": {"lr": 0.002, "steps": 30}})
    store.set_alias("production", sft1.id, reason="first release")
    return {"store": store, "corpus": corpus, "cpt": cpt, "sft1": sft1, "sft2": sft2}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------- audit


def test_audit_report_lists_every_upstream_artifact(chain, capsys, tmp_path):
    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "audit", "sft@production", "--out", str(out_dir))
    assert code == 0, err
    assert "OK   sft:v1" in out and "OK   corpus:v1" in out and str(out_dir / "report.html") in out

    md = (out_dir / "report.md").read_text()
    page = (out_dir / "report.html").read_text()
    png = (out_dir / "lineage.png").read_bytes()
    data = json.loads((out_dir / "audit.json").read_text())
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert "![lineage of sft:v1](lineage.png)" in md

    # every upstream artifact, with ids, every file's sha256, config, metrics, provenance
    sft2 = chain["sft2"]
    for key in ("corpus", "cpt", "sft1"):
        art = chain[key]
        for text in (md, page):
            assert art.ref in text and art.id in text and art.fingerprint in text and art.created_at in text
            for entry in art.files.values():
                assert entry["sha256"] in text
    assert f"## sft:v2 ({sft2.id})" not in md and f"| sft:v2 | {sft2.id} |" not in md  # a sibling is not upstream
    assert SOURCE_SHA in md and "corpora/medical/aspirin.md" in md
    assert "| sft.lr | 0.001 |" in md and "| heldout_ppl | 12.5 |" in md and "| loss | 0.7 |" in md
    manifest = chain["cpt"].manifest
    assert manifest["code"]["git_sha"] is None or manifest["code"]["git_sha"] in md
    torch_version = manifest["code"]["packages"]["torch"]
    assert f"| torch | {torch_version} |" in md
    who = f"{manifest['run']['user']}@{manifest['run']['host']}"
    assert who in md and PREFECT_RUN in md
    assert "sft@production" in md and "first release" in md  # aliases and the event log
    assert "**OK** — Every file of all 3 artifacts" in md

    # self-contained: the PNG inside, nothing fetched from elsewhere
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert data["ok"] is True and [a["ref"] for a in data["artifacts"]] == ["corpus:v1", "cpt:v1", "sft:v1"]
    assert {(e["producer"], e["consumer"], e["input"]) for e in data["edges"]} == {
        (chain["corpus"].id, chain["cpt"].id, "corpus"),
        (chain["cpt"].id, chain["sft1"].id, "model"),
    }


def test_audit_shows_a_tampered_file(chain, capsys, tmp_path):
    weights = chain["cpt"].path / "model" / "weights.bin"
    weights.write_text("w" * 99 + "x")  # one byte changed, same size
    code, out, err = run(capsys, "audit", "sft:v1", "--out", str(tmp_path / "r"))
    assert code == 1
    assert "FAIL cpt:v1" in out and "model/weights.bin: content changed" in out
    assert "verification failed for cpt:v1" in err
    md = (tmp_path / "r" / "report.md").read_text()
    assert "**FAIL** — VERIFICATION FAILED — 1 of 3 artifacts changed since publish: cpt:v1" in md
    assert f"| model/weights.bin | 100 B | {chain['cpt'].files['model/weights.bin']['sha256']} | NO |" in md
    assert "| loss.png |" in md and "| yes |" in md
    page = (tmp_path / "r" / "report.html").read_text()
    assert 'class="fail"' in page and "model/weights.bin: content changed" in page
    data = json.loads((tmp_path / "r" / "audit.json").read_text())
    assert data["ok"] is False and data["failed"] == ["cpt:v1"]


def test_audit_default_directory_and_json(chain, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "audit", "cpt", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["ok"] and result["artifacts"] == ["corpus:v1", "cpt:v1"]
    assert result["files"]["html"] == f"audit/cpt-v1-{chain['cpt'].id}/report.html"
    assert (tmp_path / result["files"]["html"]).is_file()


def test_audit_of_an_unknown_ref_is_a_clear_error(chain, capsys):
    code, _, err = run(capsys, "audit", "sft:v9")
    assert code == 2 and "sft:v9" in err and "v1, v2" in err


# ---------------------------------------------------------------------------------------------- diff


def test_diff_table_and_json(chain, capsys):
    code, out, _ = run(capsys, "diff", "sft:v1", "sft:v2")
    assert code == 0
    assert f"A = sft:v1 {chain['sft1'].id}" in out and f"B = sft:v2 {chain['sft2'].id}" in out
    assert "config: 1 differ, 1 identical" in out
    assert "sft.lr" in out and "0.001" in out and "0.002" in out
    assert "metrics: 1 differ, 1 identical" in out and "-0.2" in out
    assert "inputs: identical (1 keys)" in out and "code: identical" in out

    code, out, _ = run(capsys, "diff", "sft@production", "sft", "--json")
    d = json.loads(out)
    assert d["a"]["id"] == chain["sft1"].id and d["b"]["id"] == chain["sft2"].id
    assert d["config"]["rows"] == [{"key": "sft.lr", "a": 0.001, "b": 0.002}]
    [loss] = d["metrics"]["rows"]
    assert loss["key"] == "loss" and loss["a"] == 0.7 and loss["b"] == 0.5 and loss["delta"] == pytest.approx(-0.2)
    assert d["inputs"]["rows"] == [] and d["inputs"]["same"] == 1

    code, out, _ = run(capsys, "diff", "cpt:v1", "sft:v1", "--json", "--all")
    d = json.loads(out)
    keys = {r["key"] for r in d["config"]["rows"]}
    assert {"cpt.lr", "sft.lr", "sft.steps"} <= keys
    assert {r["key"] for r in d["inputs"]["rows"]} == {"corpus", "model"}


# ---------------------------------------------------------------------------------------------- OpenLineage


def _events(path):
    from rungs.audit import event_from_dict

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return lines, [event_from_dict(line) for line in lines]


def test_openlineage_events_are_valid_model_objects_with_the_lineage(chain, capsys, tmp_path):
    from openlineage.client.event_v2 import RunEvent, RunState
    from openlineage.client.serde import Serde

    path = tmp_path / "lineage.jsonl"
    code, _, err = run(capsys, "export-lineage", "--format", "openlineage", "sft:v2", "--output", str(path))
    assert code == 0 and "wrote 3 OpenLineage run event(s)" in err
    lines, events = _events(path)
    assert all(isinstance(e, RunEvent) and e.eventType == RunState.COMPLETE for e in events)
    assert [Serde.to_dict(e) for e in events] == lines  # nothing lost or invented in the round trip
    assert [e.job.name for e in events] == ["corpus", "cpt", "sft"]
    assert {e.job.namespace for e in events} == {"rungs"}
    corpus_ev, cpt_ev, sft_ev = events
    store = chain["store"]

    def name(art):
        return str(art.path)

    # outputs: the artifact, its version, every file's sha256
    [out] = sft_ev.outputs
    assert out.name == name(chain["sft2"]) and out.namespace.startswith("file://")
    assert out.facets["version"].datasetVersion == chain["sft2"].id
    facet = out.facets["rungs_artifact"]
    assert facet.files == chain["sft2"].files and facet.fingerprint == chain["sft2"].fingerprint
    assert out.outputFacets["outputStatistics"].fileCount == 1
    # inputs: the input artifacts, and the raw files of a raw-input stage
    assert [(i.name, i.facets["version"].datasetVersion) for i in sft_ev.inputs] == [(name(chain["cpt"]), chain["cpt"].id)]
    assert [i.name for i in cpt_ev.inputs] == [name(chain["corpus"])]
    assert cpt_ev.outputs[0].name == cpt_ev.outputs[0].name == sft_ev.inputs[0].name  # the graph joins up
    [raw] = corpus_ev.inputs
    assert raw.name == "corpora/medical/aspirin.md" and raw.facets["rungs_file"].sha256 == SOURCE_SHA
    # run facets: config, metrics, code, who, timing, Prefect parent
    rf = sft_ev.run.facets
    assert rf["rungs_run"].config == {"sft": {"lr": 0.002, "steps": 30}} and rf["rungs_run"].metrics["loss"] == 0.5
    assert rf["rungs_run"].user == chain["sft2"].manifest["run"]["user"]
    assert rf["rungs_run"].packages["torch"] == chain["sft2"].manifest["code"]["packages"]["torch"]
    assert rf["parent"].run.runId == PREFECT_RUN
    assert rf["nominalTime"].nominalEndTime.startswith(chain["sft2"].created_at[:19])
    assert uuid.UUID(sft_ev.run.runId)

    # the same artifact exports as the same run (idempotent in Marquez); stdout = the same lines
    code, out, _ = run(capsys, "export-lineage", "sft:v2")
    assert [json.loads(line) for line in out.splitlines()] == lines
    code, out, _ = run(capsys, "export-lineage", "sft:v2", "--no-upstream")
    assert [json.loads(line)["job"]["name"] for line in out.splitlines()] == ["sft"]
    code, out, _ = run(capsys, "export-lineage")
    assert len(out.splitlines()) == len(store.artifacts()) == 4


def test_openlineage_events_are_posted_to_a_lineage_endpoint(chain, capsys, tmp_path):
    received: list[tuple[str, dict]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, _, err = run(capsys, "export-lineage", "sft@production", "--url", url, "--output", str(tmp_path / "l.jsonl"))
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0 and "sent 3 OpenLineage run event(s)" in err
    assert [p for p, _ in received] == ["/api/v1/lineage"] * 3
    lines, _ = _events(tmp_path / "l.jsonl")
    assert [body for _, body in received] == lines

    code, _, err = run(capsys, "export-lineage", "sft", "--url", "http://127.0.0.1:9", "--endpoint", "x")
    assert code == 2 and "sending OpenLineage events to http://127.0.0.1:9" in err
