"""Chat records: the three row shapes, answer-only labels, the MTS-Dialog dialogues."""

from __future__ import annotations

import json

import pytest

from rungs.curation import conversation, is_heldout, parse_dialogue, read_conversations
from rungs.kernel import InputError, PROJECT_ROOT, compose
from tests.conftest import shared_data

SFT = compose(["model=tiny"]).sft


def test_dialogue_lines_become_alternating_turns():
    text = "Doctor: What brings you in?\nPatient: My knee hurts.\nIt swells at night.\nDoctor_2: Since when?\nDoctor: Any fever?\nGuest_family: She had one."
    turns = parse_dialogue(text, SFT.assistant_speakers)
    assert [t["role"] for t in turns] == ["assistant", "user", "assistant", "user"]
    assert turns[1]["content"] == "My knee hurts. It swells at night."
    assert turns[2]["content"] == "Since when? Any fever?"


def test_row_shapes_and_errors(tmp_path):
    path = tmp_path / "x.jsonl"
    qa = conversation({"question": "q?", "answer": "a."}, SFT, path, 1)
    assert qa == [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "a."}]
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert conversation({"messages": msgs}, SFT, path, 2) == msgs
    with pytest.raises(InputError, match=r"x.jsonl:3: .*'question'"):
        conversation({"prompt": "q"}, SFT, path, 3)
    with pytest.raises(InputError, match=r"x.jsonl:4: .*role"):
        conversation({"messages": [{"role": "doctor", "content": "x"}]}, SFT, path, 4)
    with pytest.raises(InputError, match="no assistant turn"):
        conversation({"dialogue": "Patient: hello"}, SFT, path, 5)


def test_heldout_split_is_stable_and_near_its_fraction():
    convs = [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}] for i in range(2000)]
    held = [is_heldout(c, 0, 0.1) for c in convs]
    assert 0.08 < sum(held) / len(held) < 0.12
    assert held == [is_heldout(c, 0, 0.1) for c in convs]


def test_mtsdialog_reads_as_multi_turn_conversations():
    path = shared_data("mtsdialog.jsonl")
    convs = list(read_conversations([path], SFT))
    assert len(convs) == 1301
    multi = [c for c in convs if sum(m["role"] == "assistant" for m in c) >= 2]
    assert len(multi) > 1000  # most dialogues have several doctor turns, each one learned from


def test_dialogue_rows_are_deidentified_before_training(tmp_path):
    """MTS-Dialog-shaped rows are transcripts of visits: sft.deidentify=dialogues (default) scrubs them."""
    import dataclasses
    from collections import Counter

    path = tmp_path / "rows.jsonl"
    dialogue = "Doctor: Good morning Mr. Jonathan Whitaker, I see your MRN is 00482913.\nPatient: Yes, call me at 617-555-0199."
    path.write_text(json.dumps({"dialogue": dialogue}) + "\n" + json.dumps({"question": "What is Dr. Smith's advice?", "answer": "Rest."}) + "\n")
    found = Counter()
    scrubbed, pair = read_conversations([path], SFT, found)
    text = " ".join(m["content"] for m in scrubbed)
    assert "Whitaker" not in text and "00482913" not in text and "617-555-0199" not in text
    assert "[NAME]" in text and "[PHONE]" in text and found["NAME"] >= 1 and found["PHONE"] == 1
    assert pair[0]["content"] == "What is Dr. Smith's advice?"  # public Q/A pairs are left as written
    kept = list(read_conversations([path], dataclasses.replace(SFT, deidentify="none")))
    assert "Whitaker" in kept[0][0]["content"]
    everything = list(read_conversations([path], dataclasses.replace(SFT, deidentify="all")))
    assert "Smith" not in everything[1][0]["content"]


def test_conversations_are_held_out_by_their_source_document():
    from rungs.curation import read_records, split_records

    path = PROJECT_ROOT / "corpora" / "instructions" / "pairs.jsonl"
    records = list(read_records([path], SFT))
    train, heldout, sources = split_records(records, 0, 0.15)
    by_source = {}
    for messages, source in records:
        by_source.setdefault(source, []).append(messages)
    assert sources and len(heldout) == sum(len(by_source[s]) for s in sources)
    trained_sources = {s for m, s in records if m in train}
    assert not trained_sources & sources  # no document has conversations on both sides
    assert 5 <= len(sources) <= 20  # ~15 % of the 69 documents
