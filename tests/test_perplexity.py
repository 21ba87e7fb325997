"""Perplexity done right: each document from its own <bos>, windows that score every token once,
token-weighted sets with bootstrap intervals, and a bound on the real Gemma that a broken evaluation breaks."""

from __future__ import annotations

import math

import pytest
import torch

from rungs.kernel import PROJECT_ROOT, interval
from rungs.train import DocumentScore, IGNORE_INDEX, collate, next_token_loss, perplexity, score_documents, select, windows
from tests.test_packing import BOS, PAD, _tiny_lm


def test_windows_start_with_bos_and_score_every_token_exactly_once():
    ids = list(range(10, 60))
    ws = windows(ids, BOS, window=16, stride=8)
    assert all(w["input_ids"][0] == BOS and len(w["input_ids"]) <= 16 for w in ws)
    scored = [t for w in ws for t in w["labels"] if t != IGNORE_INDEX]
    assert scored == ids
    # after the first window, each scored token has at least window - 1 - stride tokens before it
    for w in ws[1:]:
        first = next(i for i, t in enumerate(w["labels"]) if t != IGNORE_INDEX)
        assert first - 1 >= 16 - 1 - 8
    assert windows([11, 12], BOS, 16, 8) == [{"input_ids": [BOS, 11, 12], "labels": [IGNORE_INDEX, 11, 12]}]


def test_batched_scores_equal_one_document_at_a_time():
    model = _tiny_lm()
    docs = [("a", list(range(5, 45))), ("b", [7, 8, 9]), ("c", list(range(20, 60)) * 2)]
    batched = score_documents(model, docs, bos_id=BOS, pad_id=PAD, window=32, stride=16, batch_tokens=96)
    for (doc_id, ids), got in zip(docs, batched):
        with torch.no_grad():
            losses = [next_token_loss(model, collate([w], PAD, BOS), reduction="none")
                      for w in windows(ids, BOS, 32, 16)]
        expected = torch.cat(losses).double()
        assert got.doc_id == doc_id and got.tokens == len(ids)
        assert math.isclose(got.nll, expected.sum().item(), rel_tol=1e-5)


def test_set_perplexity_is_token_weighted_with_an_interval_over_documents():
    scores = [DocumentScore("long", 1000 * math.log(10), 1000), DocumentScore("short", 10 * math.log(1000), 10)]
    ppl, lo, hi = perplexity(scores)
    assert math.isclose(ppl, math.exp((1000 * math.log(10) + 10 * math.log(1000)) / 1010))
    assert lo <= ppl <= hi
    many = [DocumentScore(str(i), (2 + (i % 5) * 0.1) * 100, 100) for i in range(200)]
    few = many[:10]
    width = lambda s: perplexity(s)[2] - perplexity(s)[1]  # noqa: E731
    assert width(many) < width(few)  # more documents, a narrower interval
    assert interval([1, 0, 1, 1]) [0] == 0.75


def test_select_takes_whole_documents_until_the_token_budget_in_a_seeded_order():
    docs = [(f"d{i}", [1] * 30) for i in range(20)]
    chosen = select(docs, 100)
    assert len(chosen) == 4 and sum(len(d[1]) for d in chosen) >= 100
    assert chosen == select(list(reversed(docs)), 100)  # the file order does not matter
    assert select(docs, 100, seed=1) != chosen


def test_real_gemma_perplexity_on_patient_education_text_stays_plausible(gemma_base_artifact):
    """A pretrained 270M model reads plain patient-education English at a perplexity of roughly 10-25
    (measured: 14.6 over the corpus' held-out documents, 21 on WikiText). Without <bos> at position 0
    Gemma's perplexity on the same text is several times higher (104 was once reported as the
    "base" perplexity): a bound of 30 fails any evaluation that drops <bos> or lets documents mix."""
    from rungs.kernel import HardwareConfig
    from rungs.train import load_model, model_tokenizer

    tok = model_tokenizer(gemma_base_artifact)
    model = load_model(gemma_base_artifact, HardwareConfig())
    text = (PROJECT_ROOT / "corpora" / "documents" / "asthma.md").read_text().split("\n", 1)[1].strip()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    [score] = score_documents(model, [("asthma", ids)], bos_id=tok.bos_token_id, pad_id=tok.pad_token_id)
    ppl = math.exp(score.nll / score.tokens)
    with torch.no_grad():  # the broken way: the same tokens with no <bos> in front
        broken = next_token_loss(model, {"input_ids": torch.tensor([ids]), "labels": torch.tensor([ids]),
                                         "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}).item()
    assert score.tokens == len(ids) > 200
    assert 3 < ppl < 30, ppl
    assert math.exp(broken) > 2 * ppl


def test_independent_set_keeps_unseen_pages_and_leaves_out_repeated_training_text(tmp_path):
    """What evaluate calls independent: pages on held-out conditions, minus pages repeating a tenth of the
    training text's 13-word sequences. A page the corpus keeps out of training (split `excluded`) is not
    trained on, and one short templated sentence shared with training does not make a page seen."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from rungs.curation import heldout_condition
    from rungs.kernel import compose
    from stages.evaluate import text_sets

    held = [f"condition {i}" for i in range(400) if heldout_condition(f"condition {i}", 0.1)][:4]
    words = lambda tag, n: " ".join(f"{tag}{k}" for k in range(n))  # noqa: E731  distinct words per tag
    template = "talk to your doctor about what you can do to feel better"  # 12 words: shorter than n = 13
    trained = words("t", 60)
    excluded = words("x", 60)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "title": ["trained condition", held[0], "short"],
                             "text": [trained, excluded, template], "split": ["train", "excluded", "train"]}),
                   tmp_path / "documents.parquet")
    pages = [("kept-excluded", held[0], excluded),  # on a held-out condition, and nobody trained on it
             ("repeats-training", held[1], trained + " " + words("r", 10)),
             ("shares-template", held[2], words("s", 60) + " " + template),
             ("trained-condition", "trained condition", words("u", 60))]
    path = tmp_path / "independent.jsonl"
    path.write_text("".join(json.dumps({"id": i, "focus": f, "text": t}) + "\n" for i, f, t in pages))
    cfg = compose(["model=tiny", "evaluate.perplexity.sets={}",
                   f"+evaluate.perplexity.sets.ind={{path: '{path}', kind: domain, id_field: id, condition_field: focus, "
                   "heldout_conditions: 0.1}"])
    corpus = type("Corpus", (), {"path": tmp_path})()
    tokenizer = lambda text, add_special_tokens: {"input_ids": [len(w) for w in text.split()]}  # noqa: E731
    sets, notes = text_sets(cfg, corpus, tokenizer)
    assert {doc_id for doc_id, _ in sets["ind"]} == {"kept-excluded", "shares-template"}
    assert "1 document(s) left out" in notes["ind"]
