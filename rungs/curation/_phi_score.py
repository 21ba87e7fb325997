"""How well a PHI finder does on annotated notes: the measures bench/phi_eval.py reports and the deid stage
records, defined once.

A gold span is caught when every letter and digit in it is replaced, by a span of any kind (a half-removed
name is a miss; spaces and punctuation leak nothing). A predicted span is correct when it touches a gold span:
one that touches none destroyed clinical text for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_TOKEN = re.compile(r"[^\W_]+")  # a run of letters or digits: what a reader could recover


def span_mask(length: int, spans: Iterable) -> bytearray:
    """1 for every character inside one of `spans` (PhiSpan objects or gold dicts)."""
    mask = bytearray(length)
    for sp in spans:
        start, end = (sp["start"], sp["end"]) if isinstance(sp, dict) else (sp.start, sp.end)
        mask[start:end] = b"\x01" * (end - start)
    return mask


def covered(text: str, gold: dict, mask: bytearray) -> bool:
    """Strict full-span: every letter and digit of the gold span is replaced (by any span, any kind)."""
    return all(mask[i] or not text[i].isalnum() for i in range(gold["start"], gold["end"]))


def score_note(text: str, gold: list[dict], preds) -> dict[str, int]:
    """The counts behind every measure, for one note.

    - spans / spans_caught: gold spans, and those whose every letter and digit is replaced
      (strict full-span recall);
    - tokens / tokens_caught: letter-or-digit runs inside gold spans, and those wholly replaced (token recall);
    - preds / preds_ok: predicted spans, and those touching a gold span (precision);
    - pred_tokens / pred_tokens_ok: letter-or-digit runs a prediction touches, and those inside a gold
      span (token precision: fair to tools that cut one identifier into many pieces, or join many).
    """
    pmask, gmask = span_mask(len(text), preds), span_mask(len(text), gold)
    out = dict.fromkeys(("spans", "spans_caught", "tokens", "tokens_caught", "preds", "preds_ok",
                         "pred_tokens", "pred_tokens_ok"), 0)
    for g in gold:
        out["spans"] += 1
        out["spans_caught"] += covered(text, g, pmask)
        for t in _TOKEN.finditer(text, g["start"], g["end"]):
            out["tokens"] += 1
            out["tokens_caught"] += all(pmask[t.start() : t.end()])
    for p in preds:
        out["preds"] += 1
        out["preds_ok"] += any(gmask[p.start : p.end])
    for t in _TOKEN.finditer(text):
        if any(pmask[t.start() : t.end()]):
            out["pred_tokens"] += 1
            out["pred_tokens_ok"] += any(gmask[t.start() : t.end()])
    return out


def phi_scores(rows: list[dict], find: Callable[[str], list]) -> dict:
    """Strict full-span recall and precision of `find` on annotated rows ({"text", "spans"}), with 95 %
    bootstrap intervals over notes and the counts they rest on."""
    from rungs.kernel import interval

    notes = [score_note(r["text"], r["spans"], find(r["text"])) for r in rows]
    recall = interval([n["spans_caught"] for n in notes], [n["spans"] for n in notes])
    precision = interval([n["preds_ok"] for n in notes], [n["preds"] for n in notes])
    return {"recall": recall, "precision": precision, "notes": len(notes), "spans": sum(n["spans"] for n in notes),
            "predictions": sum(n["preds"] for n in notes)}
