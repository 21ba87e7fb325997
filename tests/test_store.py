"""The artifact store: hashing, manifests, versions, atomic publish, verify, aliases, lineage, locks."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from rungs.kernel import StoreError
from rungs.store import Artifact, Store


def publish(store: Store, kind: str, files: dict | None = None, *, inputs=None, fingerprint=None, **kw) -> Artifact:
    files = files if files is not None else {"data.txt": f"{kind} {uuid.uuid4().hex}"}
    with store.staging(kind) as out:
        for rel, content in files.items():
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return store.publish(
            kind,
            out,
            fingerprint=fingerprint or uuid.uuid4().hex,
            inputs=inputs or {},
            config=kw.get("config", {"seed": 0}),
            metrics=kw.get("metrics", {}),
            sources=kw.get("sources", {}),
            duration_s=kw.get("duration_s", 0.5),
            run=kw.get("run"),
        )


def leftovers(root: Path, sub: str) -> list[Path]:
    path = root / sub
    return list(path.iterdir()) if path.exists() else []


# ---------------------------------------------------------------------------------------------- root


def test_root_from_env_explicit_and_created_lazily(store_root, tmp_path, monkeypatch):
    assert Store().root == store_root
    assert not store_root.exists()  # nothing is created until something is written
    assert Store().artifacts() == []
    assert Store(tmp_path / "other").root == tmp_path / "other"
    monkeypatch.delenv("RUNGS_STORE")
    monkeypatch.chdir(tmp_path)
    assert Store().root == tmp_path / "artifacts"


# ---------------------------------------------------------------------------------------------- publish


def test_publish_hashes_every_file_and_writes_the_manifest(store_root):
    store = Store()
    weights = bytes(range(256)) * 1000
    art = publish(
        store,
        "corpus",
        {"documents.txt": "hello", "model/weights.bin": weights, "model/sub/x.json": "{}"},
        fingerprint="fp-corpus",
        config={"corpus": {"block_size": 128}},
        metrics={"documents": 3},
        sources={"corpora/a.md": {"sha256": "ab" * 32, "bytes": 5}},
        run={"flow_run_id": "flow-1"},
    )
    assert art.path == store_root / "corpus" / art.id
    on_disk = json.loads((art.path / "manifest.json").read_text())
    assert on_disk == art.manifest
    m = art.manifest
    assert m["schema"] == "rungs.manifest/1"
    assert (m["kind"], m["version"], m["fingerprint"]) == ("corpus", 1, "fp-corpus")
    assert art.ref == "corpus:v1" and art.version == 1 and art.fingerprint == "fp-corpus"
    assert m["files"] == {
        "documents.txt": {"sha256": hashlib.sha256(b"hello").hexdigest(), "bytes": 5},
        "model/sub/x.json": {"sha256": hashlib.sha256(b"{}").hexdigest(), "bytes": 2},
        "model/weights.bin": {"sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights)},
    }
    assert m["inputs"] == {} and m["config"] == {"corpus": {"block_size": 128}}
    assert m["sources"] == {"corpora/a.md": {"sha256": "ab" * 32, "bytes": 5}}
    assert m["metrics"] == {"documents": 3} == art.metrics
    assert m["duration_s"] == 0.5 and m["created_at"].endswith("Z")
    assert {"git_sha", "dirty", "packages", "python"} <= set(m["code"])
    assert "rungs" in m["code"]["packages"]
    assert m["run"]["flow_run_id"] == "flow-1" and m["run"]["host"] and m["run"]["user"]
    # the id is the hash of the canonical manifest body
    body = {k: v for k, v in m.items() if k != "id"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert art.id == m["id"] == hashlib.sha256(canon.encode()).hexdigest()[:12]
    assert store.verify(art.ref) == []
    assert leftovers(store_root, "_tmp") == []


def test_metrics_with_numpy_and_nan_are_stored_as_json(store_root):
    store = Store()
    art = publish(
        store,
        "evaluate",
        metrics={"loss": np.float32(1.5), "steps": np.int64(3), "bad": float("nan"), "hist": np.arange(3), "ok": np.bool_(True)},
    )
    assert art.metrics == {"loss": 1.5, "steps": 3, "bad": None, "hist": [0, 1, 2], "ok": True}
    assert store.verify(art.id) == []


def test_unserialisable_config_is_a_clear_error(store_root):
    store = Store()
    with pytest.raises(StoreError, match="config.obj"):
        publish(store, "cpt", config={"obj": object()})
    assert leftovers(store_root, "cpt") == [] and leftovers(store_root, "_tmp") == []


def test_versions_increment_per_kind_and_latest_follows(store_root):
    store = Store()
    refs = [publish(store, k).ref for k in ("corpus", "corpus", "cpt", "corpus", "cpt")]
    assert refs == ["corpus:v1", "corpus:v2", "cpt:v1", "corpus:v3", "cpt:v2"]
    assert [a.ref for a in store.artifacts()] == ["corpus:v1", "corpus:v2", "corpus:v3", "cpt:v1", "cpt:v2"]
    assert [a.ref for a in store.artifacts("cpt")] == ["cpt:v1", "cpt:v2"]
    assert store.resolve("corpus").ref == "corpus:v3"
    assert store.resolve("cpt@latest").ref == "cpt:v2"


def test_a_staged_manifest_is_rejected(store_root):
    store = Store()
    with pytest.raises(StoreError, match="manifest.json"):
        publish(store, "corpus", {"manifest.json": "{}"})
    assert store.artifacts() == []


def test_exception_inside_staging_leaves_nothing_behind(store_root):
    store = Store()
    with pytest.raises(RuntimeError):
        with store.staging("cpt") as out:
            (out / "model.bin").write_bytes(b"x" * 100)
            raise RuntimeError("training diverged")
    assert not (store_root / "cpt").exists() or leftovers(store_root, "cpt") == []
    assert leftovers(store_root, "_tmp") == []
    # a staging block that ends without publishing is cleaned too
    with store.staging("cpt") as out:
        (out / "half.bin").write_bytes(b"x")
    assert leftovers(store_root, "_tmp") == []
    assert store.artifacts() == [] and store.events() == []


def test_invalid_kinds_are_refused(store_root):
    store = Store()
    for bad in ("_tmp", "a/b", "", "cpt:v1"):
        with pytest.raises(StoreError):
            with store.staging(bad):
                pass


def test_find_by_fingerprint(store_root):
    store = Store()
    a = publish(store, "index", fingerprint="f1")
    publish(store, "index", fingerprint="f2")
    assert store.find("index", "f1") == a
    assert store.find("index", "nope") is None
    assert store.find("cpt", "f1") is None


def test_scratch_survives_until_removed(store_root):
    store = Store()
    scratch = store.scratch("abc123")
    assert scratch == store_root / "_scratch" / "abc123" and scratch.is_dir()
    (scratch / "step-20.pt").write_text("checkpoint")
    assert store.scratch("abc123") == scratch and (scratch / "step-20.pt").exists()
    store.remove_scratch("abc123")
    assert not scratch.exists()
    store.remove_scratch("abc123")  # idempotent
    with pytest.raises(StoreError):
        store.scratch("../escape")


# ---------------------------------------------------------------------------------------------- verify


def test_verify_detects_an_edited_manifest(store_root):
    store = Store()
    art = publish(store, "evaluate", metrics={"accuracy": 0.41})
    path = art.path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["metrics"]["accuracy"] = 0.99
    path.write_text(json.dumps(manifest, indent=2))
    problems = store.verify(art.id)
    assert problems and any("manifest.json" in p and "edited" in p for p in problems)


def test_verify_names_a_file_with_one_changed_byte(store_root):
    store = Store()
    art = publish(store, "cpt", {"model/weights.bin": b"\x00" * 4096, "loss.png": b"png"})
    assert store.verify("cpt:v1") == []
    weights = art.path / "model" / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[2048] ^= 1
    weights.write_bytes(bytes(data))
    problems = store.verify("cpt:v1")
    assert len(problems) == 1 and "model/weights.bin" in problems[0] and "changed" in problems[0]


def test_verify_detects_missing_and_unexpected_files_and_inputs(store_root):
    store = Store()
    corpus = publish(store, "corpus")
    cpt = publish(store, "cpt", {"a.txt": "a", "b.txt": "b"}, inputs={"corpus": corpus})
    (cpt.path / "b.txt").unlink()
    (cpt.path / "extra.txt").write_text("sneaked in")
    problems = store.verify(cpt.id)
    assert any("b.txt" in p and "missing" in p for p in problems)
    assert any("extra.txt" in p and "unexpected" in p for p in problems)
    shutil.rmtree(corpus.path)
    assert any(corpus.id in p and "corpus" in p for p in store.verify(cpt.id))


def test_verify_all_reports_an_unreadable_manifest(store_root):
    store = Store()
    good = publish(store, "corpus")
    bad = publish(store, "corpus")
    (bad.path / "manifest.json").write_text("{ not json")
    results = dict(store.verify_all())
    assert results[f"corpus:v1 ({good.id})"] == []
    assert results[f"corpus/{bad.id}"] and "manifest.json" in results[f"corpus/{bad.id}"][0]
    with pytest.raises(StoreError, match="unreadable"):
        publish(store, "corpus")  # refuses to guess the next version


# ---------------------------------------------------------------------------------------------- aliases


def test_aliases_move_and_the_event_log_is_append_only(store_root):
    store = Store()
    v1 = publish(store, "sft")
    v2 = publish(store, "sft")
    log = store_root / "_log" / "events.jsonl"
    before = log.read_bytes()
    assert store.set_alias("production", "sft:v1", reason="first release") == v1
    assert store.resolve("sft@production") == v1
    mid = log.read_bytes()
    assert mid.startswith(before)
    store.set_alias("production", v2.id, reason="better eval")
    assert store.resolve("sft@production") == v2
    assert log.read_bytes().startswith(mid)
    assert (store_root / "_aliases" / "sft" / "production").read_text().strip() == v2.id
    assert ("sft", "production", v2.id) in store.aliases() and ("sft", "latest", v2.id) in store.aliases("sft")

    events = store.events()
    assert [e["event"] for e in events] == ["publish", "alias", "publish", "alias", "alias", "alias"]
    assert events[0]["ref"] == "sft:v1" and events[0]["id"] == v1.id
    moves = [e for e in events if e["event"] == "alias" and e["name"] == "production"]
    assert [(m["from"], m["to"], m["reason"]) for m in moves] == [
        (None, v1.id, "first release"),
        (v1.id, v2.id, "better eval"),
    ]
    latest = [e for e in events if e["event"] == "alias" and e["name"] == "latest"]
    assert [(m["from"], m["to"]) for m in latest] == [(None, v1.id), (v1.id, v2.id)]
    for e in events:
        assert e["kind"] == "sft" and e["at"].endswith("Z") and e["user"] and e["host"]
    with pytest.raises(StoreError):
        store.set_alias("../x", "sft:v1")


# ---------------------------------------------------------------------------------------------- resolve


def test_resolve_every_ref_form_and_helpful_errors(store_root):
    store = Store()
    c1 = publish(store, "corpus")
    c2 = publish(store, "corpus")
    cpt = publish(store, "cpt", inputs={"corpus": c1})
    store.set_alias("good", c1.id)
    assert store.resolve(c1.id) == c1
    assert store.resolve(c1.id[:6]) == c1
    assert store.resolve("corpus:v2") == c2
    assert store.resolve("corpus@good") == c1
    assert store.resolve("corpus") == c2
    assert store.resolve("cpt") == cpt

    with pytest.raises(StoreError, match=r"corpus:v9.*v1, v2"):
        store.resolve("corpus:v9")
    with pytest.raises(StoreError, match=r"kinds in store: corpus \(v1..v2\), cpt \(v1\)"):
        store.resolve("sft")
    with pytest.raises(StoreError, match=r"kinds in store"):
        store.resolve("sft:v1")
    with pytest.raises(StoreError, match=r"no alias 'production'.*good, latest"):
        store.resolve("corpus@production")
    with pytest.raises(StoreError, match="at least 6"):
        store.resolve(c1.id[:4])
    with pytest.raises(StoreError, match="no artifact"):
        store.resolve("ffffffffffff" if not c1.id.startswith("ff") else "000000000000")
    with pytest.raises(StoreError, match="not an artifact reference"):
        store.resolve("what is this?")
    with pytest.raises(StoreError, match="empty"):
        Store(store_root.parent / "empty").resolve("cpt")


# ---------------------------------------------------------------------------------------------- lineage


def test_lineage_upstream_and_downstream_over_three_levels(store_root):
    store = Store()
    corpus = publish(store, "corpus")
    base = publish(store, "base", inputs={"corpus": corpus})
    cpt = publish(store, "cpt", inputs={"model": base, "corpus": corpus})
    sft = publish(store, "sft", inputs={"model": cpt})
    index = publish(store, "index", inputs={"corpus": corpus})
    unrelated = publish(store, "corpus")

    up = store.upstream("sft")
    assert up["artifact"] == sft
    assert set(up["inputs"]) == {"model"}
    cpt_node = up["inputs"]["model"]
    assert cpt_node["artifact"] == cpt
    assert cpt_node["inputs"]["corpus"]["artifact"] == corpus
    assert cpt_node["inputs"]["model"]["artifact"] == base
    assert cpt_node["inputs"]["model"]["inputs"]["corpus"]["artifact"] == corpus
    assert cpt_node["inputs"]["corpus"]["inputs"] == {}

    down = store.downstream("corpus:v1")
    assert down["artifact"] == corpus
    assert [c["artifact"] for c in down["children"]] == [base, cpt, index]
    base_node = down["children"][0]
    assert [c["artifact"] for c in base_node["children"]] == [cpt]
    assert [c["artifact"] for c in base_node["children"][0]["children"]] == [sft]
    assert store.downstream(unrelated.id)["children"] == []
    assert store.downstream("sft")["children"] == []


# ---------------------------------------------------------------------------------------------- concurrency


def _publish_many(root: str, n: int, start, tag: str) -> None:
    store = Store(root)
    start.wait(10)
    for i in range(n):
        publish(store, "corpus", {"data.txt": f"{tag}-{i}", "nested/more.bin": bytes(5000)})


def test_concurrent_publish_from_two_processes(store_root):
    ctx = mp.get_context("spawn")  # fork would copy Prefect's threads and event loop from earlier tests
    start = ctx.Event()
    procs = [ctx.Process(target=_publish_many, args=(str(store_root), 4, start, tag), daemon=True) for tag in "ab"]
    try:
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    store = Store()
    arts = store.artifacts("corpus")
    assert sorted(a.version for a in arts) == list(range(1, 9))
    assert len({a.id for a in arts}) == 8
    assert all(store.verify(a.id) == [] for a in arts)
    assert store.resolve("corpus").version == 8
    assert sum(e["event"] == "publish" for e in store.events()) == 8
    assert leftovers(store_root, "_tmp") == []


def test_concurrent_publish_from_threads(store_root):
    store = Store()
    errors = []

    def work():
        try:
            for _ in range(3):
                publish(store, "index")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(a.version for a in store.artifacts("index")) == list(range(1, 13))


def _acquire(root: str, fingerprint: str, queue) -> None:
    store = Store(root)
    try:
        with store.building(fingerprint, wait=False):
            queue.put(("nowait", "acquired"))
    except StoreError as exc:
        queue.put(("nowait", str(exc)))
    with store.building(fingerprint):
        queue.put(("wait", time.monotonic()))


def test_building_lock_excludes_a_second_process(store_root):
    store = Store()
    ctx = mp.get_context("spawn")  # fork would copy Prefect's threads and event loop from earlier tests
    queue = ctx.Queue()
    child = ctx.Process(target=_acquire, args=(str(store_root), "fp1", queue), daemon=True)
    try:
        with store.building("fp1"):
            child.start()
            kind, message = queue.get(timeout=10)
            assert kind == "nowait" and "locked" in message and "fp1" in message
            with store.building("fp2", wait=False):  # other fingerprints are not blocked
                pass
            time.sleep(0.4)
            released = time.monotonic()
        kind, acquired = queue.get(timeout=10)
        child.join(10)
    finally:
        if child.is_alive():
            child.kill()
    assert kind == "wait" and acquired >= released
    assert (store_root / "_locks" / "fp1.lock").exists()
