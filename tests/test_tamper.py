"""The store tried as an attacker would (issue 13): every case found is here, and each is caught by
`rungs verify` / `rungs audit` as one-line findings, never a traceback; names and refs stay inside the store;
the hash-chained journal, its signed heads and the migration of a journal written before the chain."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rungs.cli import main
from rungs.kernel import InputError, StoreError
from rungs.store import Store, manifest_id
from tests.test_store import publish

METRICS = {"answer_nll_sft": 2.5, "recall_at_5": 0.4}


@pytest.fixture
def release(tmp_path):
    """corpus -> evaluate (with metrics.json, as the evaluate stage writes it), evaluate@production set."""
    store = Store(tmp_path / "store")
    corpus = publish(store, "corpus")
    evaluate = publish(store, "evaluate", {"metrics.json": json.dumps(METRICS, indent=2, sort_keys=True), "report.md": "# r"},
                       inputs={"corpus": corpus}, metrics=METRICS)
    store.set_alias("production", evaluate.id, reason="first release")
    return store, corpus, evaluate


def rungs(capsys, store: Store, *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--store", str(store.root), *words])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def fake_metrics(store: Store, evaluate) -> str:
    """Edit the manifest's metrics, recompute its id, rename the directory, rewrite latest and production."""
    manifest = json.loads((evaluate.path / "manifest.json").read_text())
    manifest["metrics"]["answer_nll_sft"] = 0.1
    manifest["id"] = manifest_id(manifest)
    (evaluate.path / "manifest.json").write_text(json.dumps(manifest, indent=2))
    os.rename(evaluate.path, evaluate.path.parent / manifest["id"])
    for name in ("latest", "production"):
        (store.root / "_aliases" / "evaluate" / name).write_text(manifest["id"] + "\n")
    return manifest["id"]


# ---------------------------------------------------------------------------------------------- history


def test_faked_metrics_fail_verify_and_audit(release, capsys, tmp_path):
    store, _, evaluate = release
    assert rungs(capsys, store, "verify", "--all")[0] == 0
    forged = fake_metrics(store, evaluate)
    code, out, err = rungs(capsys, store, "verify", "--all")
    assert code == 1
    assert "metrics.json: disagrees with the manifest's metrics (answer_nll_sft)" in out
    assert "no publish entry in the journal" in out
    assert f"evaluate@production: points at {forged}, but the journal's last move put it at {evaluate.id}" in out
    code, out, err = rungs(capsys, store, "audit", "evaluate@production", "--out", str(tmp_path / "audit"))
    assert code == 1 and "FAIL" in out and "history" in err
    report = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert report["ok"] is False and report["history"]["ok"] is False


def test_every_journal_entry_is_chained_and_an_edit_a_cut_or_a_forged_line_breaks_it(release, capsys):
    store, _, evaluate = release
    from rungs.ops import RunRecorder

    RunRecorder(store, "specialize", "night").start()
    entries = [e for log in ("events", "runs", "decisions") for e in store.journal.read(log)]
    assert sorted(e["seq"] for e in entries) == list(range(1, len(entries) + 1))  # one chain across the logs
    assert store.journal.check().ok

    events = store.journal.path("events")
    original = events.read_text()
    cases = {
        "edited after it was written": original.replace('"first release"', '"approved by the board"'),
        "are missing": "".join(original.splitlines(keepends=True)[:1] + original.splitlines(keepends=True)[2:]),
        "without a hash after the chain began": original + json.dumps({"event": "publish", "kind": "evaluate", "id": "0" * 12}) + "\n",
        "out of order": "".join(reversed(original.splitlines(keepends=True))),
    }
    for finding, text in cases.items():
        events.write_text(text)
        code, out, _ = rungs(capsys, store, "verify")
        assert code == 1 and finding in out, (finding, out)
    events.write_text(original)
    assert rungs(capsys, store, "verify")[0] == 0


def test_a_signed_head_proves_the_history_with_the_public_key_alone(release, capsys, tmp_path, monkeypatch):
    store, _, _ = release
    keys = tmp_path / "keys"
    assert rungs(capsys, store, "journal", "keygen", "--out", str(keys))[0] == 0
    assert oct((keys / "journal-key.pem").stat().st_mode & 0o777) == "0o600"
    assert rungs(capsys, store, "journal", "sign", "--key", str(keys / "journal-key.pem"))[0] == 0
    public = str(keys / "journal-key.pub.pem")
    code, out, _ = rungs(capsys, store, "verify", "--public-key", public)
    assert code == 0 and "signed up to seq" in out

    # the whole chain recomputed by someone who knows the format but not the private key
    from rungs.store._journal import GENESIS, entry_hash  # noqa: PLC2701  (the forger's tool)

    path = store.journal.path("events")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    entries[0]["fingerprint"] = "forged"
    prev = GENESIS
    for e in entries:
        e["prev"] = prev
        e["hash"] = prev = entry_hash("events", e)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert store.journal.check().ok  # without the key the rewrite is self-consistent...
    code, out, _ = rungs(capsys, store, "verify", "--public-key", public)
    assert code == 1 and "history up to a signed head was rewritten" in out  # ...with it, it is not

    other = tmp_path / "other"
    rungs(capsys, store, "journal", "keygen", "--out", str(other))
    code, out, _ = rungs(capsys, store, "verify", "--public-key", str(other / "journal-key.pub.pem"))
    assert code == 1 and "does not verify with the given public key" in out

    # $RUNGS_JOURNAL_KEY signs every new head as it is written
    monkeypatch.setenv("RUNGS_JOURNAL_KEY", str(keys / "journal-key.pem"))
    fresh = Store(tmp_path / "fresh")
    publish(fresh, "corpus")
    report = fresh.journal.check([(__import__("rungs.store", fromlist=["load_public_key"]).load_public_key(Path(public)))])
    assert report.ok and report.signed["seq"] == report.head["seq"] == 2


def test_a_journal_written_before_the_chain_is_noted_and_rechained(release, capsys):
    store, _, _ = release
    for log in ("events", "decisions"):
        path = store.journal.path(log)
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            path.write_text("".join(json.dumps({k: v for k, v in e.items() if k not in ("seq", "prev", "hash")}) + "\n"
                                    for e in lines))
    code, out, _ = rungs(capsys, store, "verify")
    assert code == 0 and "not tamper-evident" in out and "rungs journal rechain" in out
    code, out, _ = rungs(capsys, store, "journal", "rechain")
    assert code == 0 and "chained 5 legacy entries" in out
    code, out, _ = rungs(capsys, store, "verify")
    assert code == 0 and "not tamper-evident" not in out
    assert list((store.root / "_log").glob("pre-rechain-*/events.jsonl"))  # the old files are kept


def test_a_crash_torn_line_is_noted_not_glued_to_the_next_entry(release, capsys):
    store, corpus, _ = release
    with open(store.journal.path("events"), "a") as fh:
        fh.write('{"event": "publish", "ki')  # a write cut short by a crash: no newline
    store.set_alias("staging", corpus.id)
    report = store.journal.check()
    assert report.ok and any("torn" in n for n in report.notes)
    assert store.events()[-1]["name"] == "staging"


# ---------------------------------------------------------------------------------------------- malformed content


@pytest.mark.parametrize("damage", ["no version", "string version", "empty manifest", "stray {}", "not json"])
def test_malformed_manifests_are_one_line_findings_never_tracebacks(release, capsys, tmp_path, damage):
    store, corpus, evaluate = release
    path = evaluate.path / "manifest.json"
    manifest = json.loads(path.read_text())
    if damage == "no version":
        del manifest["version"]
        path.write_text(json.dumps(manifest))
    elif damage == "string version":
        manifest["version"] = "1"
        path.write_text(json.dumps(manifest))
    elif damage == "empty manifest":
        path.write_text("{}")
    elif damage == "not json":
        path.write_text("{ nope")
    else:
        (store.root / "evaluate" / "stray").mkdir()
        (store.root / "evaluate" / "stray" / "manifest.json").write_text("{}")
    code, out, _ = rungs(capsys, store, "verify", "--all")
    assert code == 1 and "FAIL" in out
    assert all(len(line) < 200 for line in out.splitlines())
    code, out, _ = rungs(capsys, store, "ls")
    assert code == 0 and "corpus:v1" in out
    code, _, err = rungs(capsys, store, "audit", "corpus", "--out", str(tmp_path / "a"))
    assert code in (0, 1)
    code, _, err = rungs(capsys, store, "show", "evaluate@production")
    assert code == (0 if damage == "stray {}" else 2)
    assert err.count("\n") <= 1


def test_symbolic_links_are_refused_and_reported(release, capsys):
    store, corpus, evaluate = release
    # a file replaced by a link: only that file is named, the others still verify
    report = evaluate.path / "report.md"
    report.unlink()
    report.symlink_to("/etc/hostname")
    code, out, _ = rungs(capsys, store, "verify", evaluate.id)
    assert code == 1 and "report.md: a symbolic link" in out and "missing" not in out
    code, _, err = rungs(capsys, store, "show", "evaluate@production")
    assert code == 2 and "symbolic link" in err
    # a directory replaced by a link to a copy of itself
    copy = store.root.parent / "elsewhere"
    shutil.move(corpus.path, copy)
    corpus.path.symlink_to(copy)
    code, out, _ = rungs(capsys, store, "verify", "--all")
    assert code == 1 and f"corpus/{corpus.id}: a symbolic link in place of an artifact directory" in out
    with pytest.raises(StoreError, match="symbolic link"):
        store.get(corpus.id)
    # on ingest: a staged artifact holding a link is not published
    with pytest.raises(StoreError, match="symbolic link"), store.staging("corpus") as out_dir:
        (out_dir / "data.txt").symlink_to("/etc/hostname")
        store.publish("corpus", out_dir, fingerprint="f" * 12, inputs={}, config={}, metrics={}, sources={}, duration_s=0)


def test_the_corpus_reader_refuses_symbolic_links(tmp_path):
    from rungs.curation import expand_paths

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "real.md").write_text("# Asthma\n\nAn inhaler helps.\n")
    assert expand_paths([folder]) == [folder / "real.md"]
    (folder / "secret.txt").symlink_to("/etc/hostname")
    with pytest.raises(InputError, match="symbolic link"):
        expand_paths([folder])
    with pytest.raises(InputError, match="symbolic link"):
        expand_paths([folder / "secret.txt"])


# ---------------------------------------------------------------------------------------------- names and refs


def test_refs_never_read_outside_the_store(release, capsys):
    store, _, _ = release
    for ref in ("evaluate@../../_log/runs.jsonl", "evaluate@../../_log/events.jsonl", "../evaluate:v1",
                "evaluate@" + "a" * 300, "evaluate@prod\nuction", "cpt:v1/../../etc"):
        code, out, err = rungs(capsys, store, "show", ref)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (ref, err)
        assert '"event"' not in err and "seq" not in err


def test_alias_names_follow_one_pattern(release, capsys):
    store, _, evaluate = release
    for name in ("prod\n", "a" * 65, "../x", ".hidden", "has space", "", "é"):
        code, _, err = rungs(capsys, store, "alias", "set", name, evaluate.id)
        assert code == 2 and "invalid alias name" in err and "Traceback" not in err, name
    assert rungs(capsys, store, "alias", "set", "a" * 64, evaluate.id)[0] == 0
    assert rungs(capsys, store, "alias", "set", "release-2026.1_b", evaluate.id)[0] == 0
    # an alias file put there by hand with a bad name, or a link, is a finding
    (store.root / "_aliases" / "evaluate" / "bad name").write_text(evaluate.id)
    (store.root / "_aliases" / "evaluate" / "linked").symlink_to(store.journal.path("events"))
    code, out, _ = rungs(capsys, store, "verify")
    assert code == 1 and "not a valid alias name" in out and "_aliases/evaluate/linked: a symbolic link" in out
