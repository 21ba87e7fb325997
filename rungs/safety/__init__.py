"""Patient safety: does this conversation need emergency care now? The assistant's first duty.

A conversation is read as all of its user turns, normalised (`user_text`: NFKC, look-alike letters,
invisible characters, line breaks), and checked twice by the `Detector`:

- `Guardrails`: the red-flag rules of `prompt.red_flags`, phrases that escalate once the classifier's
  probability reaches its `rule_floor` (a keyword cannot read "no chest pain since my stent"), or at any
  probability for the `sure` patterns no harmless train or dev message matched ("took 24 tablets");
- `Classifier`: a few small networks averaged (or a logistic regression) over sentence embeddings
  (`features`), trained by the `triage` stage (`train_classifier`: weights on train, threshold and rule
  floor on dev; `Classifier.escalates` decides)
  and loaded from a triage artifact (`load_classifier`).

The triage stage trains and measures it; the assistant (chat, serve, evaluate) consults it before
retrieval or any model. scikit-learn and sentence-transformers load where they are used. Import from
here (`from rungs.safety import Detector`), never from the private modules.
"""

from ._classifier import (
    MODEL_FILE,
    Classifier,
    features,
    fit_classifier,
    load_classifier,
    rule_floor_for,
    threshold_for_recall,
    train_classifier,
)
from ._detector import Detector
from ._rules import Guardrails
from ._text import normalize, sentences, user_text

__all__ = [
    "MODEL_FILE", "Classifier", "Detector", "Guardrails", "features", "fit_classifier", "load_classifier", "normalize",
    "rule_floor_for", "sentences", "threshold_for_recall", "train_classifier", "user_text",
]
