"""The promotion gate on real store artifacts: first release, refused and tolerated regressions, the
release moving together, the append-only decision log, `rungs promote` by hand and `rungs rollback`."""

from __future__ import annotations

import json
import uuid

import pytest

from rungs.kernel import StoreError, compose
from rungs.ops import decisions, gate_and_promote, rollback
from rungs.store import DECISIONS, Store

GOOD = {"domain_independent_ppl_sft": 15.0, "general_independent_ppl_sft": 25.0, "answer_nll_sft": 2.38, "retrieval_recall@5": 0.9855,
        "retrieval_mrr": 0.943, "answers_sft_escalated": 0.25, "answers_sft_citation_accuracy": 0.1, "answers_sft_grounded": 0.05,
        "answers_sft_degenerate": 0.06}


def _publish(store: Store, kind: str, metrics: dict | None = None, inputs: dict | None = None):
    with store.staging(kind) as out:
        (out / "payload.txt").write_text(f"{kind} {uuid.uuid4().hex}\n")
        return store.publish(
            kind, out, fingerprint=uuid.uuid4().hex, inputs=inputs or {}, config={"evaluate": {"max_blocks": 64}},
            metrics=metrics or {}, sources={}, duration_s=0.1,
        )


def make_release(store: Store, metrics: dict, rungs=("base", "cpt", "sft"), index: bool = True, corpus=None):
    """corpus → base → cpt → sft, corpus → index, all → evaluate(metrics): what pipeline=full publishes."""
    corpus = corpus or _publish(store, "corpus")
    arts = {"corpus": corpus}
    trunk = None
    for kind in rungs:
        inputs = {"corpus": corpus} if kind in ("base", "cpt") else {"model": trunk}
        if kind == "cpt":
            inputs["base"] = trunk
        arts[kind] = trunk = _publish(store, kind, inputs=inputs)
    if index:
        arts["index"] = _publish(store, "index", inputs={"corpus": corpus})
    arts["evaluate"] = _publish(store, "evaluate", metrics, inputs=dict(arts))
    return arts


@pytest.fixture(scope="module")
def gate_cfg():
    return compose(["model=tiny"]).promote


def production(store: Store) -> dict[str, str]:
    return {kind: target for kind, name, target in store.aliases() if name == "production"}


def test_first_release_is_promoted_and_its_kinds_move_together(tmp_path, gate_cfg):
    store = Store(tmp_path)
    rel = make_release(store, GOOD)
    d = gate_and_promote(store, rel["evaluate"].ref, gate_cfg)
    assert d["outcome"] == "promoted" and d["production"] is None
    assert "first release" in d["reasons"][0]
    assert production(store) == {kind: art.id for kind, art in rel.items()}
    # every move is an alias event naming the decision; evaluate (which names the release) moves last
    moves = [e for e in store.events() if e["event"] == "alias" and e["name"] == "production"]
    assert [e["kind"] for e in moves][-1] == "evaluate" and len(moves) == 6
    assert all(d["decision"] in e["reason"] for e in moves)
    logged = decisions(store)
    assert len(logged) == 1 and logged[0]["decision"] == d["decision"] and logged[0]["user"] and logged[0]["at"]


def test_worse_candidate_is_refused_with_reasons_and_production_untouched(tmp_path, gate_cfg):
    store = Store(tmp_path)
    first = make_release(store, GOOD)
    gate_and_promote(store, first["evaluate"].id, gate_cfg)
    before = production(store)
    worse = make_release(store, {**GOOD, "domain_independent_ppl_sft": 15.5, "retrieval_recall@5": 0.96})
    d = gate_and_promote(store, worse["evaluate"].id, gate_cfg)
    assert d["outcome"] == "refused" and not d["promoted"] and d["moves"] == []
    status = {c["name"]: c["status"] for c in d["checks"]}
    assert status == {"domain_ppl": "worse", "general_ppl": "ok", "answer_nll": "ok", "recall_at_5": "worse", "mrr": "ok",
                      "escalated": "ok", "citations": "ok", "grounded": "ok", "degenerate": "ok", "triage_recall": "skipped"}
    domain = next(c for c in d["checks"] if c["name"] == "domain_ppl")
    assert domain["limit"] == pytest.approx(15.3) and domain["candidate"] == 15.5 and domain["production"] == 15.0
    assert any(r.startswith("domain_ppl: 15.5 vs production 15") and r.endswith("worse") for r in d["reasons"])
    assert production(store) == before
    assert [x["outcome"] for x in decisions(store)] == ["promoted", "refused"]


def test_regressions_within_tolerance_are_not_worse(tmp_path, gate_cfg):
    store = Store(tmp_path)
    gate_and_promote(store, make_release(store, GOOD)["evaluate"].id, gate_cfg)
    # +1.3 % domain perplexity and one question fewer in 69 at recall@5 are noise, not regressions
    near = make_release(store, {**GOOD, "domain_independent_ppl_sft": 15.2, "retrieval_recall@5": 0.9710})
    d = gate_and_promote(store, near["evaluate"].id, gate_cfg)
    assert d["outcome"] == "promoted", d["reasons"]
    assert production(store)["evaluate"] == near["evaluate"].id
    again = gate_and_promote(store, near["evaluate"].ref, gate_cfg)
    assert again["outcome"] == "unchanged" and again["moves"] == []


def test_a_metric_production_has_and_the_candidate_lacks_blocks_unless_configured(tmp_path, gate_cfg):
    store = Store(tmp_path)
    full = make_release(store, GOOD)
    gate_and_promote(store, full["evaluate"].id, gate_cfg)
    # a pipeline=rag release: base + index, no answer NLL; its top rung is base
    rag_metrics = {"domain_independent_ppl_base": 14.0, "general_independent_ppl_base": 20.0, "retrieval_recall@5": 0.99, "retrieval_mrr": 0.95}
    rag = make_release(store, rag_metrics, rungs=("base",), corpus=full["corpus"])
    d = gate_and_promote(store, rag["evaluate"].id, gate_cfg)
    assert d["outcome"] == "refused"
    assert any("answer_nll: production has answer_nll_sft=2.38 but the candidate did not measure answer_nll_base" in r for r in d["reasons"])
    assert any("top model rung base is compared with production's sft" in r for r in d["reasons"])
    skip = compose(["model=tiny", "promote.missing=skip"]).promote
    d = gate_and_promote(store, rag["evaluate"].id, skip)
    assert d["outcome"] == "promoted"
    assert {m["kind"] for m in d["moves"]} == {"base", "index", "evaluate"}  # the corpus is the same artifact
    assert any(r.startswith("sft@production stays at") for r in d["reasons"])
    assert production(store)["sft"] == full["sft"].id


def test_decision_log_is_append_only(tmp_path, gate_cfg):
    store = Store(tmp_path)
    gate_and_promote(store, make_release(store, GOOD)["evaluate"].id, gate_cfg)
    path = store.journal.path(DECISIONS)
    first = path.read_bytes()
    gate_and_promote(store, make_release(store, {**GOOD, "general_independent_ppl_sft": 99.0})["evaluate"].id, gate_cfg)
    gate_and_promote(store, make_release(store, GOOD)["evaluate"].id, gate_cfg, dry_run=True)  # dry runs are not logged
    after = path.read_bytes()
    assert after.startswith(first) and len(after.splitlines()) == 2
    assert all(json.loads(line)["decision"] for line in after.splitlines())


def test_cli_promote_refuses_then_forces_by_hand(tmp_path, gate_cfg, capsys):
    from rungs.cli import main

    store = Store(tmp_path)
    gate_and_promote(store, make_release(store, GOOD)["evaluate"].id, gate_cfg)
    worse = make_release(store, {**GOOD, "answer_nll_sft": 3.0})
    # a model artifact stands for its newest evaluation
    assert main(["--store", str(tmp_path), "promote", worse["sft"].ref, "--dry-run"]) == 1
    assert main(["--store", str(tmp_path), "promote", worse["sft"].ref]) == 1
    captured = capsys.readouterr()
    assert "refused" in captured.out and "answer_nll" in captured.out and "--force" in captured.err
    assert production(store)["sft"] != worse["sft"].id
    assert main(["--store", str(tmp_path), "promote", worse["evaluate"].ref, "--force", "--reason", "ward review accepted it", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["outcome"] == "forced" and d["action"] == "promote" and d["source"] == "cli" and d["note"] == "ward review accepted it"
    assert production(store)["sft"] == worse["sft"].id
    # a looser gate by override promotes without --force
    worse2 = make_release(store, {**GOOD, "answer_nll_sft": 3.3})
    assert main(["--store", str(tmp_path), "promote", worse2["evaluate"].ref, "promote.metrics.answer_nll.tolerance=0.2"]) == 0
    assert "promoted: " in capsys.readouterr().out
    assert main(["--store", str(tmp_path), "promote", "--log", "--json"]) == 0
    assert [x["outcome"] for x in json.loads(capsys.readouterr().out)] == ["promoted", "refused", "forced", "promoted"]


def test_rollback_walks_back_one_promotion_at_a_time(tmp_path, gate_cfg, capsys):
    from rungs.cli import main

    store = Store(tmp_path)
    r1 = make_release(store, GOOD)
    r2 = make_release(store, {**GOOD, "domain_independent_ppl_sft": 14.0})
    r3 = make_release(store, {**GOOD, "domain_independent_ppl_sft": 13.0})
    for rel in (r1, r2, r3):
        assert gate_and_promote(store, rel["evaluate"].id, gate_cfg)["outcome"] == "promoted"
    # only the adapter: sft goes back to r2's, the rest of r3 stays
    assert main(["--store", str(tmp_path), "rollback", "sft", "--reason", "tone complaints", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["action"] == "rollback" and [m["kind"] for m in d["moves"]] == ["sft"] and d["note"] == "tone complaints"
    assert production(store)["sft"] == r2["sft"].id and production(store)["evaluate"] == r3["evaluate"].id
    # the whole release: the rest of r3's moves are undone (sft already was)
    rollback(store)
    assert production(store) == {k: a.id for k, a in r2.items()}
    rollback(store)
    assert production(store) == {k: a.id for k, a in r1.items()}
    with pytest.raises(StoreError, match="nothing to roll back to"):
        rollback(store)
    assert main(["--store", str(tmp_path), "rollback"]) == 2
    assert "nothing to roll back to" in capsys.readouterr().err
    log = decisions(store)
    assert [x["action"] for x in log] == ["gate", "gate", "gate", "rollback", "rollback", "rollback"]
    assert log[4]["undoes"] == log[2]["decision"] and log[5]["undoes"] == log[1]["decision"]


def test_a_triage_model_with_lower_blind_test_recall_is_refused(tmp_path, gate_cfg):
    store = Store(tmp_path)
    gate_and_promote(store, make_release(store, {**GOOD, "triage_test_recall": 0.967})["evaluate"].id, gate_cfg)
    worse = make_release(store, {**GOOD, "triage_test_recall": 0.962})  # one emergency of 210 fewer
    d = gate_and_promote(store, worse["evaluate"].id, gate_cfg)
    assert d["outcome"] == "refused" and any(r.startswith("triage_recall: 0.962") for r in d["reasons"])
