"""Corpus curation end to end: cleaning rules, duplicates, the report, PHI, decontamination, instructions,
and corpus.on_error, each through the corpus stage on small files written here or in tests/data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rungs.curation import KeyIndex, NearDuplicates, Quality, boilerplate_pattern, clean_text, conversation, is_heldout, load_tokenizer, quality_issue
from rungs.kernel import CorpusConfig, InputError, compose
from tests.test_corpus import build, make_cfg, sentence, write_corpus, write_jsonl

DATA = Path(__file__).parent / "data"


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def documents(out: Path) -> dict[str, dict]:
    return {d["id"]: d for d in pq.read_table(out / "documents.parquet").to_pylist()}


def decoded_blocks(out: Path) -> str:
    tok = load_tokenizer(out / "tokenizer")
    parts = []
    for split in ("train", "heldout"):
        for ids in pq.read_table(out / "blocks" / f"{split}.parquet").column("input_ids").to_pylist():
            parts.append(tok.decode(ids))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------- units


def test_clean_text_unicode_whitespace_and_boilerplate():
    pattern = boilerplate_pattern(CorpusConfig().boilerplate)
    raw = "Asth\u200bma con\u00adtrol \ufb01rst\u00a0line\r\nShare on Facebook\n\n\n\nPage last reviewed: 2 May 2024\nKeep your inhaler with you."
    text, removed = clean_text(raw, pattern)
    assert text == "Asthma control first line\n\nKeep your inhaler with you."
    assert removed == 2


def test_quality_rules_name_their_reason():
    q = Quality(min_chars=20, max_chars=2000, min_words=5, min_alpha_ratio=0.5, max_repetition=0.3)
    assert quality_issue("Too short.", q) == "too_short"
    assert quality_issue("x" * 2001, q) == "too_long"
    assert quality_issue("Figure 1: inhaler diagram", q) == "too_few_words"
    assert quality_issue("12 | 34 | 56 | 78 | 90\n" * 5, q) == "low_alpha"
    assert quality_issue("buy cheap pills now " * 20, q) == "repetitive"
    assert quality_issue("Home\nNews and events\n" * 5 + "Contact us today for an appointment", q) == "repetitive"
    assert quality_issue(sentence(random.Random(0), 80), q) is None


def test_key_index_keeps_the_first_row_across_merges(monkeypatch):
    monkeypatch.setattr("rungs.curation._dedup.STAGING", 8)  # the module constant behind KeyIndex
    index = KeyIndex()
    for row in range(100):
        index.add([row * 7, 10_000 + row], row)
    assert len(index) == 200 and len(index.recent) < 8
    index.add([21], 999)  # 21 = 3 * 7 was added by row 3
    assert index.find([21]) == 3 and index.find([10_099]) == 99 and index.find([5, 6]) == -1
    for i in range(8):
        index.add([123_456 + i], 1000)
    assert index.find([21]) == 3  # still the first row after the merge


def test_near_duplicates_found_and_distinct_text_not():
    rng = random.Random(2)
    base = sentence(rng, 120)
    near = NearDuplicates(0.8, 128, 5)
    near.add(base, 0)
    assert near.find(base + " Reviewed again in 2024.") == 0
    assert near.find(sentence(rng, 120)) == -1


# ---------------------------------------------------------------------------------------------- report


def test_report_counts_every_drop_reason_with_examples(tmp_path, progress):
    rng = random.Random(5)
    rows = [{"id": f"d{i}", "text": f"{sentence(rng, 60)}\n{sentence(rng, 60)}"} for i in range(30)]
    rows += [
        {"id": "copy", "text": rows[1]["text"]},
        {"id": "near", "text": rows[3]["text"] + " Reviewed again."},
        {"id": "table", "text": "12 | 34 | 56 | 78\n" * 10},
        {"id": "spam", "text": "buy cheap pills now " * 20},
        {"id": "label", "text": "Figure 1: inhaler diagram"},
        {"id": "frag", "text": "Too short."},
        {"id": "boiler", "text": f"{sentence(rng)}\nShare on Facebook\nCopyright © 2024 Example Health. All rights reserved.\n{sentence(rng)}"},
        {"id": "invisible", "text": f"Asth\u200bma con\u00adtrol \ufb01rst. {sentence(rng)}"},
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "out"
    metrics = build(make_cfg([path]), out, progress)
    assert metrics["documents_read"] == 38 and metrics["documents_kept"] == 32
    assert (metrics["dropped_duplicate"], metrics["dropped_near_duplicate"], metrics["dropped_short"],
            metrics["dropped_quality"]) == (1, 1, 1, 3)
    r = report(out)
    assert {k: v["count"] for k, v in r["dropped"].items()} == {
        "too_short": 1, "too_few_words": 1, "low_alpha": 1, "repetitive": 1, "exact_duplicate": 1, "near_duplicate": 1}
    near = r["dropped"]["near_duplicate"]["examples"][0]
    assert near["id"] == "near" and near["duplicate_of"]["id"] == "d3" and 0.9 < near["jaccard"] < 1
    assert near["line"] == 32 and near["source"].endswith("rows.jsonl")
    assert r["dropped"]["exact_duplicate"]["examples"][0]["duplicate_of"]["id"] == "d1"
    assert all(info["why"] for info in r["dropped"].values())
    assert r["cleaning"]["boilerplate_lines_removed"] == 2
    assert r["documents"] == {"read": 38, "kept": 32, "excluded": 0, "dropped": 6,
                              "train": metrics["train_documents"], "heldout": metrics["heldout_documents"]}
    docs = documents(out)
    assert "Facebook" not in docs["boiler"]["text"] and "rights reserved" not in docs["boiler"]["text"]
    assert docs["invisible"]["text"].startswith("Asthma control first.")
    md = (out / "report.md").read_text()
    assert "### near_duplicate: 1" in md and "duplicate of `d3`" in md and "## Decontamination" in md


# ---------------------------------------------------------------------------------------------- PHI

SECRETS = ["Whitaker", "00482913", "555-0142", "mary.collins@example.com", "03/14/2021", "March 3, 2020", "93-year-old"]


def test_clinical_notes_are_deidentified_before_anything_is_written(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=12)
    notes = DATA / "clinical_notes.jsonl"
    cfg = make_cfg([folder], f"corpus.sources=[{{path: '{notes}', kind: clinical_notes, text_field: note}}]")
    out = tmp_path / "out"
    metrics = build(cfg, out, progress)
    docs = documents(out)
    assert {"note-1", "note-2", "note-3"} <= set(docs)
    stored = " ".join(d["text"] for d in docs.values()) + " " + decoded_blocks(out)
    for secret in SECRETS:
        assert secret not in stored, secret
    assert "[NAME]" in docs["note-1"]["text"] and "[MRN]" in docs["note-1"]["text"]
    assert "metformin 1000 mg twice daily" in docs["note-1"]["text"]  # clinical content survives
    r = report(out)
    assert metrics["phi_spans"] == sum(r["deidentification"]["spans"].values()) >= 7
    assert {"NAME", "MRN", "PHONE", "EMAIL", "DATE", "AGE"} <= set(r["deidentification"]["spans"])
    assert [s["deidentified"] for s in r["sources"]] == [False, True]
    for example in r["deidentification"]["examples"]:
        assert not any(secret in example["text"] for secret in SECRETS)
    assert "Whitaker" not in (out / "report.md").read_text()


# ---------------------------------------------------------------------------------------------- decontamination

QUESTION = "How often should an adult with mild persistent asthma have their inhaler technique checked by a nurse?"


def test_documents_overlapping_evaluation_text_never_reach_training(tmp_path, progress):
    rng = random.Random(9)
    questions = write_jsonl(tmp_path / "questions.jsonl", [{"id": "asthma", "question": QUESTION}])
    pairs = [{"question": f"Question {i} about my symptoms?", "answer": sentence(rng, 30)} for i in range(40)]
    pairs_path = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    sft = compose(["model=tiny"]).sft
    held = [p for p in pairs if is_heldout(conversation(p, sft, pairs_path, 1), 0, sft.heldout_fraction)]
    trained = [p for p in pairs if p not in held]
    assert held and trained
    rows = [{"id": f"d{i}", "text": sentence(rng, 60)} for i in range(20)]
    rows += [{"id": "has-question", "text": f"{sentence(rng, 10)} {QUESTION} {sentence(rng, 10)}"},
             {"id": "has-heldout-answer", "text": f"{held[0]['answer']} {sentence(rng, 10)}"},
             {"id": "has-train-answer", "text": trained[0]["answer"]}]
    corpus = write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = make_cfg([corpus], f"evaluate.questions='{questions}'", f"sft.data=['{pairs_path}']")
    out = tmp_path / "out"
    metrics = build(cfg, out, progress)
    docs = documents(out)
    assert docs["has-question"]["split"] == docs["has-heldout-answer"]["split"] == "excluded"
    assert docs["has-train-answer"]["split"] in ("train", "heldout")
    assert metrics["excluded_contaminated"] == 2 and metrics["documents_kept"] == 21
    assert "technique" not in decoded_blocks(out)
    d = report(out)["decontamination"]
    assert d["documents_excluded"] == 2 and d["characters_excluded"] > 0
    assert d["evaluation_texts"] == {"evaluate.questions": 1, "sft held-out conversations": len(held),
                                     "sft held-out source documents": 0}  # these pairs name no source document
    off = build(make_cfg([corpus], f"evaluate.questions='{questions}'", "corpus.decontaminate=false"), tmp_path / "off", progress)
    assert off["excluded_contaminated"] == 0 and off["documents_kept"] == 23


# ---------------------------------------------------------------------------------------------- instructions

DIALOGUES = [
    {"id": "dlg-1", "dialogue": "Doctor: Good morning, Mrs. Patel. What brings you in today?\n"
                                "Patient: My name is Anita Patel, I was born on 04/12/1950 and my chest feels tight.\n"
                                "Doctor: How long has it felt tight, and does it come on when you walk?"},
    {"id": "dlg-2", "dialogue": "Patient: Hello, is anyone there?"},
    {"id": "dlg-3", "dialogue": "Doctor: Any fever?\nPatient: No fever, just a cough.\nDoctor: Rest and fluids then."},
]


def test_instruction_builders_turn_qa_and_dialogues_into_chat_records(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=12)
    dialogues = write_jsonl(tmp_path / "dialogues.jsonl", DIALOGUES)
    xml = DATA / "medquad_sample.xml"
    listed = f"corpus.instructions=[{{path: '{xml}'}}, {{path: '{dialogues}', kind: clinical_notes}}]"
    with pytest.raises(InputError) as err:
        build(make_cfg([folder], listed), tmp_path / "fail", progress)
    assert f"{dialogues}:2" in str(err.value) and "no assistant turn" in str(err.value)

    out = tmp_path / "out"
    metrics = build(make_cfg([folder], listed, "corpus.on_error=skip"), out, progress)
    assert metrics["instruction_records"] == 5 and metrics["skipped_rows"] == 1
    records = [json.loads(x) for x in (out / "instructions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["0000123-1", "0000123-2", "0000123-3", "dlg-1", "dlg-3"]
    assert records[0]["messages"] == [
        {"role": "user", "content": "What is (are) Shingles ?"},
        {"role": "assistant", "content": records[0]["messages"][1]["content"]}]
    assert records[0]["messages"][1]["content"].startswith("Shingles is a disease caused by")
    assert records[0]["line"] == 8 and records[0]["source"].endswith("medquad_sample.xml")
    dialogue = " ".join(m["content"] for m in records[3]["messages"])
    assert [m["role"] for m in records[3]["messages"]] == ["assistant", "user", "assistant"]
    assert "Patel" not in dialogue and "04/12/1950" not in dialogue and "[NAME]" in dialogue
    r = report(out)
    assert r["instructions"]["records"] == 5 and r["instructions"]["phi_spans"] >= 3
    assert r["skipped"]["rows"] == [{"file": str(dialogues), "line": 2, "kind": "missing_field",
                                     "reason": "conversation has no assistant turn to learn from"}]


# ---------------------------------------------------------------------------------------------- on_error


def test_stage_on_error_fail_stops_and_skip_lists_every_row(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=12)
    bad = tmp_path / "bad"
    bad.mkdir()
    good = json.dumps({"id": "fine", "text": sentence(random.Random(4))})
    (bad / "a-rows.jsonl").write_text(f'{good}\n{{"text": "unterminated\n{json.dumps({"body": "x"})}\n')
    (bad / "b-latin.txt").write_bytes("Caf\xe9 visit notes for the clinic".encode("latin-1"))
    (bad / "c-empty.md").write_text("")
    (bad / "d-scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    with pytest.raises(InputError) as err:
        build(make_cfg([folder, bad]), tmp_path / "fail", progress)
    assert f"{bad / 'a-rows.jsonl'}:2" in str(err.value) and "invalid JSON" in str(err.value)

    out = tmp_path / "out"
    metrics = build(make_cfg([folder, bad], "corpus.on_error=skip"), out, progress)
    assert metrics["skipped_rows"] == 5 and "fine" in documents(out)
    skipped = report(out)["skipped"]
    expected = [("a-rows.jsonl", 2, "malformed"), ("a-rows.jsonl", 3, "missing_field"), ("b-latin.txt", 1, "encoding"),
                ("c-empty.md", None, "empty"), ("d-scan.txt", None, "binary")]
    assert [(Path(r["file"]).name, r["line"], r["kind"]) for r in skipped["rows"]] == expected
    assert skipped["by_kind"] == {"binary": 1, "empty": 1, "encoding": 1, "malformed": 1, "missing_field": 1}
    assert [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()] == skipped["rows"]
    md = (out / "report.md").read_text()
    assert "## Skipped rows (corpus.on_error=skip): 5" in md and "a-rows.jsonl:3 [missing_field]" in md
