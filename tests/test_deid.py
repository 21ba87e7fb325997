"""The deid stage: a learned PHI recogniser trained as an artifact, and the corpus stage scrubbing with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungs.curation import PhiRecogniser, find_spans, phi_scores
from rungs.kernel import ConfigError, InputError, compose, progress_factory
from rungs.pipeline import build
from rungs.store import Store
from stages import corpus as corpus_stage
from stages.deid import FLOORS
from tests.test_corpus import make_cfg, write_corpus

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTES = [json.loads(line) for line in (PROJECT_ROOT / "corpora" / "phi" / "annotated.jsonl").read_text().splitlines()]
SECRETS = ["Whitaker", "00482913", "555-0142", "mary.collins@example.com", "03/14/2021"]


def tiny_notes(path: Path) -> Path:
    """Real annotated notes, few and split small: 8 to train on, 2 choose the floor, 2 are the test."""
    by_split = {s: [n for n in NOTES if n["split"] == s] for s in ("dev", "dev2", "test")}
    rows = ([{**n, "split": "train"} for n in by_split["dev"][:8]] + [{**n, "split": "floor"} for n in by_split["dev2"][:2]]
            + [{**n, "split": "blind"} for n in by_split["test"][:2]])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def deid_overrides(data: Path) -> list[str]:
    # a few steps of a bigger learning rate on short windows: seconds on 2 cores, enough to see it learn
    return ["model=tiny", f"deid.data={data}", "deid.hold_out=[floor,blind]", "deid.floor_split=floor",
            "deid.test_splits=[blind]", "deid.epochs=4", "deid.lr=5e-4", "deid.max_len=128", "deid.stride=32"]


@pytest.fixture(scope="module")
def deid(tmp_path_factory):
    root = tmp_path_factory.mktemp("deid")
    data = tiny_notes(root / "notes.jsonl")
    store = Store(root / "store")
    return store, data, build("deid", compose(deid_overrides(data)), {}, store, progress=progress_factory(enabled=False)).artifact


def test_deid_trains_a_recogniser_and_records_how_it_scores(deid):
    store, data, artifact = deid
    m = artifact.metrics
    assert m["train_notes"] == 8 and m["train_loss_final"] < 0.5 * m["train_loss_first"]  # it learns
    assert m["floor"] in FLOORS
    assert sorted(p.name for p in artifact.path.iterdir()) == ["deid.json", "manifest.json", "metrics.json", "model", "report.md"]
    assert (artifact.path / "model" / "config.json").exists()
    spec = json.loads((artifact.path / "deid.json").read_text())
    assert spec["reading"]["min_confidence"] == m["floor"] and spec["trained_on"] == ["train"]
    # the rules' scores are what rungs.curation measures on the same notes; rules + recogniser find at least as much
    blind = [json.loads(line) for line in data.read_text().splitlines() if '"split": "blind"' in line]
    rules = phi_scores(blind, find_spans)
    assert m["blind_rules_recall"] == pytest.approx(rules["recall"][0], abs=1e-4)
    assert m["blind_deid_recall"] >= m["blind_rules_recall"] and m["test_recall"] == m["blind_deid_recall"]
    assert "rules + recogniser" in (artifact.path / "report.md").read_text()
    recogniser = PhiRecogniser.load(artifact.path)
    text = "Seen by Dr. Kumar on 03/14/2023, MRN 00482913."
    assert {(s.start, s.end) for s in find_spans(text)} <= {(s.start, s.end) for s in recogniser.find(text)}


def test_the_corpus_stage_scrubs_with_a_deid_artifact_and_records_it(deid, tmp_path, progress):
    store, _, artifact = deid
    folder = write_corpus(tmp_path, n_md=12)
    notes = PROJECT_ROOT / "tests" / "data" / "clinical_notes.jsonl"
    cfg = make_cfg([folder], f"corpus.sources=[{{path: '{notes}', kind: clinical_notes, text_field: note}}]")
    with_deid = corpus_stage.run(cfg, {"deid": artifact}, tmp_path / "with", progress, tmp_path / "with-scratch")
    rules_only = corpus_stage.run(cfg, {}, tmp_path / "rules", progress, tmp_path / "rules-scratch")
    stored = (tmp_path / "with" / "documents.parquet").read_bytes().decode("latin-1")
    assert not [s for s in SECRETS if s in stored]
    assert with_deid["phi_spans"] >= rules_only["phi_spans"] >= 7
    built = build("corpus", cfg, {"deid": artifact}, store, progress=progress).artifact  # lineage: the manifest names it
    assert built.inputs["deid"] == artifact.id


def test_deid_refuses_to_score_on_what_it_trains_on(tmp_path, progress):
    data = tiny_notes(tmp_path / "notes.jsonl")
    store = Store(tmp_path / "store")
    with pytest.raises(ConfigError, match=r"\['blind'\] must be in deid.hold_out"):
        build("deid", compose([*deid_overrides(data), "deid.hold_out=[floor]"]), {}, store, progress=progress)
    with pytest.raises(ConfigError, match="not in"):
        build("deid", compose([*deid_overrides(data), "deid.floor_split=nope", "deid.hold_out=[nope,blind]"]), {}, store, progress=progress)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"split": "train", "text": "Seen by Dr. Kumar", "spans": [{"start": 12, "end": 40, "kind": "NAME"}]}\n')
    with pytest.raises(InputError, match=rf"{bad}:1: span"):
        build("deid", compose([*deid_overrides(bad)]), {}, store, progress=progress)
    assert store.artifacts("deid") == []


def test_the_default_configuration_fits_the_shipped_notes():
    """conf/deid's hold-out, floor and test splits all exist in corpora/phi, held out as the stage requires."""
    from stages.deid import _check, load_notes

    cfg = compose([])
    splits = {n["split"] for n in load_notes(PROJECT_ROOT / cfg.deid.data)}
    _check(cfg.deid, splits)
    assert cfg.deid.floor_split in cfg.deid.hold_out and set(cfg.deid.test_splits) <= set(cfg.deid.hold_out)
    assert len(splits - set(cfg.deid.hold_out)) >= 10  # the spent blind splits train it too
