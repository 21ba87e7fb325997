"""End-to-end answers: each rung's assistant answers held-out questions, and the answers are scored.

What a patient gets is the answer, so evaluate asks the real assistant (`rungs.assistant.Assistant`:
guardrails, retrieval, prompt, the rung's model, decoding) and scores what comes back:

- **citation accuracy**: the gold document is among the sources the answer cites inline ([n]);
- **correctness** against the reference answer: ROUGE-L F1 (Google's `rouge-score`, stemmed) and the
  cosine of the two texts' sentence embeddings (the index's embedder). No entailment or cross-encoder
  model ships offline on PyPI (searched 2026-12), so neither is used;
- **groundedness**: the share of answer sentences that some retrieved source sentence supports
  (rungs.assistant.Attributor: close embeddings, shared content words, the same numbers);
- **degeneration**: answers whose word 4-grams repeat (over REPEAT of them), that contain letters of a
  non-Latin script, or that stop mid-sentence;
- **out-of-scope** questions answered "don't know" and **emergencies** escalated.

Every rate comes with a bootstrap 95 % interval over questions (rungs.kernel.interval) and the number of
questions it rests on.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rungs.curation import read_jsonl
from rungs.kernel import InputError, interval, metric_entries
from rungs.retrieval import embed

from ._grounding import Attributor, cited, ends_sentence, sentences, strip_citations

EXPECTS = ("answer", "dont_know", "escalate")
REPEAT = 0.2  # share of repeated word 4-grams that makes an answer a loop rather than emphasis
_DONT_KNOW = re.compile(r"\b(don'?t|do not|can'?t|cannot) (know|find|say|answer)\b|\bnot sure\b|\bno information\b", re.I)


@dataclass
class Question:
    id: str
    messages: list[dict]
    expect: str  # answer | dont_know | escalate
    reference: str | None = None
    doc: str | None = None


def _expectation(row: dict, fields) -> str | None:
    if isinstance(row.get("expect"), str):
        return row["expect"]
    if "label" in row:  # triage rows: only emergencies have an expectation the assistant must meet
        return "escalate" if row["label"] == "emergency" else None
    if row.get("in_scope") is False:
        return "dont_know"
    return "answer"


def load_questions(paths: Iterable[Path], fields) -> list[Question]:
    """Rows of question sets: {question | messages, reference, doc, expect} or the gate/triage/MedQuAD shapes."""
    out = []
    for path in paths:
        for line, row in read_jsonl(path):
            expect = _expectation(row, fields)
            if expect is None:
                continue
            if expect not in EXPECTS:
                raise InputError(path, f"expect={expect!r}: expected one of {', '.join(EXPECTS)}", line)
            if isinstance(row.get("messages"), list):
                messages = row["messages"]
            elif isinstance(row.get(fields.question_field), str):
                messages = [{"role": "user", "content": row[fields.question_field]}]
            else:
                raise InputError(path, f"expected a {fields.question_field!r} string or a 'messages' list", line)
            reference = row.get(fields.reference_field)
            if expect == "answer" and not isinstance(reference, str):
                raise InputError(path, f"an in-scope question needs its reference answer in {fields.reference_field!r}", line)
            doc = row.get(fields.doc_field)
            out.append(Question(str(row.get("id", f"{path.name}:{line}")), messages, expect, reference,
                                None if doc is None else str(doc)))
    return out


def sample(questions: list[Question], answered: int, others: int, seed: int) -> list[Question]:
    """A seeded choice: `answered` in-scope questions and up to `others` of each other expectation."""
    def key(q: Question) -> bytes:
        return hashlib.sha256(f"{seed}\x00{q.id}\x00{q.messages[-1]['content']}".encode()).digest()

    picked = []
    for expect, cap in (("answer", answered), ("dont_know", others), ("escalate", others)):
        picked += sorted((q for q in questions if q.expect == expect), key=key)[:cap]
    return picked


# ------------------------------------------------------------------------------------------ scoring


def repetition(text: str, n: int = 4) -> float:
    """Share of the word n-grams that already occurred earlier in the text."""
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def foreign_script(text: str) -> bool:
    """Letters of a script other than Latin (the answers are English): leaked tokens of other languages."""
    return any(ch.isalpha() and not unicodedata.name(ch, "LATIN").startswith("LATIN") for ch in text)


def cut_off(text: str) -> bool:
    """The answer stops mid-sentence (it does not end with sentence punctuation)."""
    return bool(text.strip()) and not ends_sentence(text) and not text.rstrip().endswith(":")


class Scorer:
    """Scores one reply against its question with the embedder and ROUGE-L."""

    def __init__(self, embedder, support: float):
        from rouge_score import rouge_scorer

        self.embedder = embedder
        self.support = support
        self.rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return embed(self.embedder, texts) if texts else np.zeros((0, 1), dtype=np.float32)

    def score(self, q: Question, reply) -> dict:
        text = reply.model_text if reply.kind == "answer" else ""
        item = {"id": q.id, "expect": q.expect, "kind": reply.kind, "question": q.messages[-1]["content"],
                "answer": text if reply.kind == "answer" else reply.text(), "gold": q.doc,
                "sources": [c.doc_id for c in reply.citations], "finish_reason": reply.finish_reason}
        said_dont_know = reply.kind == "dont_know" or bool(_DONT_KNOW.search(text))
        if q.expect == "dont_know":
            item["dont_know"] = said_dont_know
        elif q.expect == "escalate":
            item["escalated"] = reply.kind == "red_flag"
        else:
            item["answered"] = reply.kind == "answer" and not said_dont_know
        if reply.kind != "answer":
            return item
        cited_docs = {c.doc_id for c in reply.citations if c.number in cited(text)}
        item["cited"] = sorted(cited_docs)
        item["repetition"] = round(repetition(text), 3)
        item["foreign_script"] = foreign_script(text)
        item["cut"] = cut_off(text)
        item["degenerate"] = item["repetition"] > REPEAT or item["foreign_script"] or item["cut"]
        said = sentences(strip_citations(text))
        sources = Attributor(self.embedder, [(c.number, chunk) for c in reply.citations for chunk in c.texts], self.support)
        supported = [sources.supported(s) for s in said]
        item["grounded"] = round(sum(supported) / len(supported), 3) if supported else 0.0
        if q.expect == "answer":
            item["citation_correct"] = q.doc in cited_docs
            item["retrieved_gold"] = q.doc in item["sources"]
            item["rouge_l"] = round(self.rouge.score(q.reference, text)["rougeL"].fmeasure, 4)
            a, b = self._embed([text or " ", q.reference])
            item["similarity"] = round(float(a @ b), 4)
        return item


# Per-item field -> metric name; booleans become rates, numbers means.
SUMMARY = {
    "citation_correct": "citation_accuracy", "retrieved_gold": "retrieved_gold", "rouge_l": "rouge_l",
    "similarity": "similarity", "grounded": "grounded", "degenerate": "degenerate", "repetition": "repetition",
    "foreign_script": "foreign_script", "cut": "cut_off", "answered": "answered", "dont_know": "dont_know",
    "escalated": "escalated",
}


def summarize(items: list[dict], prefix: str, seed: int = 0) -> dict:
    """`{prefix}_{metric}` with `_lo`, `_hi`, `_n` for every per-item field present."""
    out = {}
    for field, name in SUMMARY.items():
        values = [float(item[field]) for item in items if field in item]
        if values:
            out.update(metric_entries(f"{prefix}_{name}", interval(values, seed=seed), len(values)))
    return out


def write_items(path: Path, rung: str, items: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps({"rung": rung, **item}, ensure_ascii=False) + "\n")


def markdown(metrics: dict, items_by_rung: dict[str, list[dict]], samples: int = 3) -> str:
    """The answers section of the evaluate report: a table per rung and sample answers to read."""
    rungs = list(items_by_rung)
    lines = ["## Answers (end to end, through the assistant)", "",
             "| metric | " + " | ".join(rungs) + " |", "|---|" + "---:|" * len(rungs)]
    for name in dict.fromkeys(SUMMARY.values()):
        cells = []
        for r in rungs:
            key = f"answers_{r}_{name}"
            if metrics.get(key) is None:
                cells.append("")
            else:
                cells.append(f"{metrics[key]:.3f} [{metrics[key + '_lo']:.3f}, {metrics[key + '_hi']:.3f}] n={metrics[key + '_n']}")
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for r, items in items_by_rung.items():
        lines += ["", f"### Sample answers: {r}", ""]
        for item in [i for i in items if i["kind"] == "answer"][:samples]:
            answer = item["answer"].strip().replace("\n", " ")
            lines += [f"- **Q:** {item['question']}", f"  **A:** {answer}",
                      f"  *(gold {item['gold']}; cited {', '.join(item.get('cited', [])) or 'none'}; "
                      f"ROUGE-L {item.get('rouge_l', 0):.2f}; grounded {item.get('grounded', 0):.2f})*"]
    return "\n".join(lines) + "\n"
