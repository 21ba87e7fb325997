"""rungs gc: only artifacts no alias reaches go (dry run first), killed builds' staging, published scratch."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rungs.cli import main
from rungs.kernel import StoreError
from rungs.store import Store


def _publish(store: Store, kind: str, inputs=None, tag: str = "") -> object:
    with store.staging(kind) as out:
        (out / "data.bin").write_bytes(f"{kind}{tag}{len(store.artifacts(kind))}".encode() * 100)
        return store.publish(
            kind, out, fingerprint=f"fp-{kind}-{tag}-{len(store.artifacts(kind))}", inputs=inputs or {},
            config={}, metrics={}, sources={}, duration_s=0.1,
        )


@pytest.fixture
def ladders(store_root):
    """Three corpus -> cpt -> sft chains: v1 released (production), v2 an abandoned experiment, v3 latest."""
    store = Store()
    chains = {}
    for v in ("released", "experiment", "latest"):
        corpus = _publish(store, "corpus", tag=v)
        cpt = _publish(store, "cpt", {"corpus": corpus}, tag=v)
        sft = _publish(store, "sft", {"model": cpt}, tag=v)
        chains[v] = (corpus, cpt, sft)
    store.set_alias("production", chains["released"][2].id)
    return store, chains


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_lists_only_what_no_alias_reaches(ladders, capsys):
    store, chains = ladders
    doomed = {a.id for a in chains["experiment"]}
    code, out, _ = run(capsys, "gc", "--older-than", "0s")
    assert code == 0 and "dry run" in out and "would remove: 3 artifact(s)" in out
    for a in chains["experiment"]:
        assert a.ref in out and a.id in out
    for a in (*chains["released"], *chains["latest"]):
        assert a.id not in out
    assert all(a.path.is_dir() for a in chains["experiment"])  # nothing deleted
    assert not any(e["event"] == "gc" for e in store.events())

    code, out, _ = run(capsys, "gc", "--older-than", "0s", "--json")
    plan = json.loads(out)
    assert plan["deleted"] is False and {a["id"] for a in plan["artifacts"]} == doomed
    assert plan["kept"][chains["released"][0].id] == f"upstream of {chains['released'][2].ref} (alias sft@production)"
    assert plan["kept"][chains["latest"][2].id] == "alias sft@latest"
    assert plan["bytes"] == sum(a["bytes"] for a in plan["artifacts"]) > 0

    # the default age keeps everything made today
    code, out, _ = run(capsys, "gc")
    assert "no artifact to remove" in out


def test_gc_yes_removes_them_logs_it_and_the_store_still_verifies(ladders, capsys):
    store, chains = ladders
    code, out, _ = run(capsys, "gc", "--older-than", "0s", "--yes")
    assert code == 0 and "removed: 3 artifact(s)" in out
    assert all(not a.path.exists() for a in chains["experiment"])
    assert sorted(a.ref for a in store.artifacts()) == sorted(a.ref for v in ("released", "latest") for a in chains[v])
    assert all(problems == [] for _, problems in store.verify_all())  # no kept artifact lost an input
    assert store.resolve("sft@production") == chains["released"][2]
    gone = [e for e in store.events() if e["event"] == "gc"]
    assert sorted(e["id"] for e in gone) == sorted(a.id for a in chains["experiment"])
    assert all(e["what"] == "artifact" and e["user"] and e["at"] and "no alias" in e["reason"] for e in gone)
    assert not any((store.root / "_tmp").iterdir())
    code, out, _ = run(capsys, "log")
    assert "gc" in out and chains["experiment"][1].ref in out
    # versions are never reused after a removal
    assert _publish(store, "cpt", {"corpus": chains["latest"][0]}, tag="again").ref == "cpt:v4"
    # a second pass finds nothing more
    assert store.collect(dt.timedelta(0)).artifacts == []


def test_newer_artifacts_keep_their_inputs(store_root):
    store = Store()
    old_corpus = _publish(store, "corpus", tag="old")
    old_cpt = _publish(store, "cpt", {"corpus": old_corpus}, tag="old")
    _publish(store, "corpus", tag="latest")
    _publish(store, "cpt", {"corpus": store.resolve("corpus")}, tag="latest")
    orphan = _publish(store, "corpus", tag="orphan")
    time.sleep(1.1)  # created_at has one-second resolution
    young = _publish(store, "sft", {"model": old_cpt}, tag="young")  # no alias will reach it, but it is new
    newest = _publish(store, "sft", {"model": store.resolve("cpt")}, tag="newest")  # sft@latest
    store.set_alias("latest", store.resolve("corpus:v2").id)  # orphan (corpus:v3) is now reachable from no alias
    now = dt.datetime.fromisoformat(young.created_at)
    plan = store.garbage(dt.timedelta(seconds=0.5), now=now)
    assert [a.id for a in plan.artifacts] == [orphan.id]
    assert plan.kept[newest.id] == "alias sft@latest"
    assert plan.kept[young.id] == "newer than the cutoff"
    assert plan.kept[old_cpt.id] == "upstream of sft:v1 (newer than the cutoff)"
    assert plan.kept[old_corpus.id] == "upstream of sft:v1 (newer than the cutoff)"
    with pytest.raises(StoreError, match="non-negative"):
        store.garbage(dt.timedelta(seconds=-1))


_KILLED_BUILD = """
import sys, time
from rungs.store import Store
with Store(sys.argv[1]).staging("cpt") as out:
    (out / "model.bin").write_bytes(b"x" * 4096)
    print(out.name, flush=True)
    time.sleep(600)
"""


def test_gc_clears_staging_of_killed_builds_and_published_scratch_only(ladders, capsys):
    store, chains = ladders
    child = subprocess.Popen([sys.executable, "-c", _KILLED_BUILD, str(store.root)], stdout=subprocess.PIPE, text=True)
    try:
        dead_name = child.stdout.readline().strip()
        assert dead_name.startswith("cpt-")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    dead = store.root / "_tmp" / dead_name
    assert (dead / "model.bin").exists()
    published_fp = chains["latest"][1].fingerprint
    (store.scratch(published_fp) / "checkpoint.pt").write_bytes(b"c" * 100)
    (store.scratch("fp-unpublished") / "checkpoint.pt").write_bytes(b"c" * 100)
    busy_fp = chains["latest"][2].fingerprint
    (store.scratch(busy_fp) / "checkpoint.pt").write_bytes(b"c" * 100)

    with store.staging("sft") as live, store.building(busy_fp):
        (live / "adapter.bin").write_bytes(b"y")
        code, out, _ = run(capsys, "gc", "--older-than", "30d", "--yes", "-v")
        assert code == 0
        assert f"removed staging _tmp/{dead_name}" in out and f"removed scratch _scratch/{published_fp}" in out
        assert not dead.exists()
        assert (live / "adapter.bin").exists()  # a build in progress keeps its staging
        assert "a build in progress holds it" in out
        assert (store.root / "_scratch" / "fp-unpublished" / "checkpoint.pt").exists()  # resume data stays
        assert (store.root / "_scratch" / busy_fp).exists()  # being built right now
        assert not (store.root / "_scratch" / published_fp).exists()
    assert len(store.artifacts()) == 9  # nothing is 30 days old
    events = [e for e in store.events() if e["event"] == "gc"]
    assert sorted(e["what"] for e in events) == ["scratch", "staging"]
    assert list((store.root / "_locks").glob("tmp-*.lock")) == []  # staging locks go with their directories


def test_publish_refuses_an_input_that_gc_removed(ladders):
    store, chains = ladders
    experiment_cpt = chains["experiment"][1]
    with store.staging("sft") as out:
        (out / "adapter.bin").write_bytes(b"z")
        store.collect(dt.timedelta(0))
        with pytest.raises(StoreError, match=experiment_cpt.id):
            store.publish("sft", out, fingerprint="fp-late", inputs={"model": experiment_cpt}, config={}, metrics={},
                          sources={}, duration_s=0.1)


def test_bad_age_is_a_clear_error(ladders, capsys):
    code, _, err = run(capsys, "gc", "--older-than", "30 days")
    assert code == 2 and "--older-than '30 days'" in err and "30d" in err
