"""The learned PHI recogniser, as bench/phi_eval.py measures it: `learned` and `rungs+learned`.

The recogniser itself (the shipped MiniLM fine-tuned as a BIO token classifier, its windows, its filters) lives in
rungs.curation (`train_recogniser`, `PhiRecogniser`); the `deid` stage trains it as a versioned artifact and
chooses its confidence floor. Here it trains on the notes bench/phi_eval.py hands `fit` — every split but
`--hold-out` — with the same recipe, and chooses its floor the stage's way (stages/deid.choose_floor: the lowest at
which rules + recogniser keep precision 0.95) on the held-out notes it is given (`--floor-split`). Trained models
are cached under `$TMPDIR/rungs-phi-learned/<hash of notes and settings>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from rungs.curation import PhiReading, PhiRecogniser, PhiSpan, rules_and_recogniser, spans_from_pieces, train_recogniser
from rungs.retrieval import model_path

MAX_LEN, STRIDE = 256, 64  # word pieces per window: a note is ~600; overlap so no name sits only at an edge
SETTINGS = {"epochs": 8, "lr": 1e-4, "batch_size": 8, "seed": 0, "max_len": MAX_LEN, "stride": STRIDE}
TARGET_PRECISION = 0.95  # of rules + recogniser on the floor split, as conf/deid's target_precision
CACHE = Path(os.environ.get("RUNGS_PHI_LEARNED", Path(tempfile.gettempdir()) / "rungs-phi-learned"))
_fitted: PhiRecogniser | None = None  # once `fit` ran
floors_tried: dict[float, tuple[float, float]] = {}  # floor -> (recall, precision) on the floor split, once `fit` ran


def fit(rows: list[dict], floor_rows: list[dict]) -> float:
    """Train on `rows` (annotated notes), or load the model trained on exactly these before; choose its
    confidence floor on `floor_rows` (notes it did not train on). Returns the floor."""
    from stages.deid import choose_floor

    global _fitted
    key = hashlib.sha256(json.dumps([SETTINGS, rows], sort_keys=True).encode()).hexdigest()[:16]
    out = CACHE / key
    reading = PhiReading(max_len=MAX_LEN, stride=STRIDE)
    if not (out / "model" / "config.json").exists():
        print(f"training the learned PHI recogniser on {len(rows)} notes ...", flush=True)
        train_recogniser(rows, out, reading, model_path("minilm"), out / "_trainer", epochs=SETTINGS["epochs"], lr=SETTINGS["lr"],
                         batch_size=SETTINGS["batch_size"], seed=SETTINGS["seed"])
    _fitted = PhiRecogniser.from_model(out / "model", reading)
    pieces = {n["text"]: _fitted.pieces(n["text"]) for n in floor_rows}
    floor, tried = choose_floor(floor_rows, pieces, TARGET_PRECISION)
    floors_tried.clear()
    floors_tried.update(tried)
    _fitted.reading.min_confidence = floor
    return floor


def _pieces(text: str) -> dict[tuple[int, int], tuple[float, int]]:
    if _fitted is None:
        raise RuntimeError("phi_learned.fit(rows) first: the model is trained on the notes bench/phi_eval.py holds")
    return _fitted.pieces(text)


def learned_spans(text: str) -> list[PhiSpan]:
    """What the recogniser finds (rungs.curation.spans_from_pieces) at the floor `fit` chose."""
    return spans_from_pieces(text, _pieces(text), _fitted.reading.min_confidence)


def rules_and_learned_spans(text: str) -> list[PhiSpan]:
    """The rules and the recogniser together, as the deid stage and the corpus stage combine them."""
    return rules_and_recogniser(text, _pieces(text), _fitted.reading.min_confidence)
