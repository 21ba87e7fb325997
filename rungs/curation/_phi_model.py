"""The learned PHI recogniser: a sentence embedder fine-tuned to label word pieces as identifiers.

Why: blind writers put the rules (`find_spans`) at ~0.85–0.90 strict recall; most misses are names the
gazetteers cannot tell from words ("will", "hope" in lower-case dialogue), log-ins made from names, and
numbers, dates and addresses spoken in words — context, which a trained model reads and a rule does not.
The `deid` stage trains one on annotated notes (corpora/phi) and the corpus stage, given that artifact,
replaces what the rules or the recogniser find.

The model: the shipped all-MiniLM-L6-v2 (an uncased BERT, so a lower-case name looks like a capitalised one)
with a fresh BIO head over PHI_KINDS, trained with transformers' Trainer on windows of `max_len` word pieces
(overlapping by `stride`). Predictions: each word piece's probability of being PHI (1 - P(O)) and its likeliest
kind, overlapping windows keeping the higher; runs of PHI pieces become spans, kept at a mean probability of
`min_confidence` (the deid stage chooses it on a split the model never trained on).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ._phi import KINDS, PhiSpan, ScrubResult, find_spans, identifies_nothing, names_no_one, part_of_an_organisation, replace_spans

LABELS = ("O", *(f"{p}-{k}" for k in KINDS for p in ("B", "I")))
MODEL_DIR = "model"  # the token classifier and its tokenizer (transformers' save_pretrained)
SPEC_FILE = "deid.json"  # how the recogniser reads: windows, confidence floor, base embedder

# A capitalised label, credential or system name (NHI, HPCSA, FRCPath, PDMP, CHA2DS2) that the model took for
# a name or a number on test5 and test6; initials are a name only after a cue ("scribe: LM"); N417LF, with three
# digits, is a tail number.
_ACRONYM = re.compile(r"(?=(?:[A-Za-z0-9]*[A-Z]){2})(?!(?:[A-Za-z]*[0-9]){3})[A-Z][A-Za-z0-9]{1,7}")
_INITIALS_CUE = re.compile(r"(?i)\b(?:by|initials?|scribe|tech(?:nologist|nician)?|signed|per|reviewed|entered|cc|attn|nurse|rn|md|dr)\b[^\n]{0,12}$")


# What a date has beyond a year: a month's name, a day and month in digits, or a day's ordinal or number word.
_DATE_LIKE = re.compile(
    r"(?i)[a-z]{3}|\b(?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01])\b|\b(?:0?[1-9]|[12]\d|3[01])[/\-.](?:0?[1-9]|1[0-2])\b"
    r"|\b(?:19|20)\d{2}[/\-.]?(?:0[1-9]|1[0-2])")
# HL7 field names ("PID-13", "NK1-2", "IN1-36.1") are positions in a message, not identifiers.
_HL7_FIELD = re.compile(r"[A-Z][A-Z0-9]{2}-\d{1,3}(?:\.\d{1,3})*")


@dataclass
class Reading:
    """How a trained recogniser reads text: stored beside the model in deid.json."""

    max_len: int = 256  # word pieces per window: a note is ~600; overlap so no name sits only at an edge
    stride: int = 64
    min_confidence: float = 0.95  # mean PHI probability of a kept span
    base: str = "minilm"  # the embedder it was fine-tuned from (rungs.retrieval.model_path)


def windows(tokenizer, text: str, reading: Reading):
    return tokenizer(text, truncation=True, max_length=reading.max_len, stride=reading.stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True)


def labelled_windows(tokenizer, rows: list[dict], reading: Reading) -> list[dict]:
    """Training examples: every window of every annotated note, each word piece labelled B-/I-KIND or O."""
    out = []
    for row in rows:
        enc = windows(tokenizer, row["text"], reading)
        for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"]):
            labels, prev = [], None
            for start, end in offsets:
                if start == end:  # [CLS], [SEP]
                    labels.append(-100)
                    prev = None
                    continue
                span = next((s for s in row["spans"] if s["start"] <= start and end <= s["end"]), None)
                labels.append(0 if span is None else LABELS.index(("I-" if prev is span else "B-") + span["kind"]))
                prev = span
            out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return out


def train_recogniser(rows: list[dict], out: Path, reading: Reading, base_dir: Path, work: Path, *, epochs: float,
                     lr: float, batch_size: int, seed: int, device: str = "cpu") -> list[float]:
    """Fine-tune the encoder in `base_dir` (`reading.base`, resolved by the caller: rungs.retrieval.model_path)
    on annotated rows; save it under out/model (the Trainer's own files go to `work`). Returns the losses logged."""
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    base = str(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)})
    data = Dataset.from_list(labelled_windows(tokenizer, rows, reading))
    steps = max(1, round(epochs * -(-len(data) // batch_size)))
    args = TrainingArguments(output_dir=str(work), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
                             learning_rate=lr, warmup_steps=0.1, seed=seed, data_seed=seed, report_to=[], save_strategy="no",
                             use_cpu=device == "cpu", dataloader_num_workers=0, logging_steps=max(1, steps // 20))
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=DataCollatorForTokenClassification(tokenizer))
    trainer.train()
    model.save_pretrained(out / MODEL_DIR)
    tokenizer.save_pretrained(out / MODEL_DIR)
    return [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]


class Recogniser:
    """A trained recogniser: `pieces(text)` its word-piece scores, `find(text)` what it and the rules find, `scrub(text)`."""

    def __init__(self, tokenizer, model, reading: Reading):
        self.tokenizer, self.model, self.reading = tokenizer, model.eval(), reading

    @classmethod
    def from_model(cls, model_dir: Path, reading: Reading) -> Recogniser:
        """A token classifier saved by `train_recogniser`, read as `reading` says."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(model_dir), AutoModelForTokenClassification.from_pretrained(model_dir), reading)

    @classmethod
    def load(cls, folder: Path) -> Recogniser:
        """From a deid artifact's directory (deid.json and model/)."""
        folder = Path(folder)
        return cls.from_model(folder / MODEL_DIR, Reading(**json.loads((folder / SPEC_FILE).read_text())["reading"]))

    def save(self, folder: Path, **extra) -> None:
        (Path(folder) / SPEC_FILE).write_text(json.dumps({"reading": asdict(self.reading), "labels": LABELS, **extra}, indent=1))

    def pieces(self, text: str) -> dict[tuple[int, int], tuple[float, int]]:
        """Each word piece's offsets -> (probability that it is PHI, its most likely PHI label); overlapping
        windows keep the reading with the most context on both sides (the higher PHI probability)."""
        import torch

        best: dict[tuple[int, int], tuple[float, int]] = {}
        enc = windows(self.tokenizer, text, self.reading)
        with torch.no_grad():
            for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"]):
                probs = self.model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
                phi = (1 - probs[:, 0]).tolist()
                label = (probs[:, 1:].argmax(-1) + 1).tolist()
                for (start, end), p, lab in zip(offsets, phi, label):
                    if start < end and p > best.get((start, end), (-1.0, 0))[0]:
                        best[(start, end)] = (p, lab)
        return best

    def find(self, text: str) -> list[PhiSpan]:
        """What the rules find and what the recogniser finds, overlaps merged."""
        return rules_and_recogniser(text, self.pieces(text), self.reading.min_confidence)

    def scrub(self, text: str) -> ScrubResult:
        return replace_spans(text, self.find(text))


def spans_from_pieces(text: str, pieces: dict[tuple[int, int], tuple[float, int]], min_confidence: float) -> list[PhiSpan]:
    """Runs of word pieces more likely PHI than not, kept when their mean PHI probability reaches
    `min_confidence`, widened to whole words (a piece of a word hides nothing) and cut at a line break, less
    what cannot identify anyone or what the model was seen to confuse: `identifies_nothing` (a character or a
    spoken digit alone, a clinical code, a state or country), phone numbers of under four digits
    (911, 112, 999: services, not people), a name that opens an organisation's name ("Agnes Hospital"),
    a capitalised acronym not cued as initials, an HL7 field name, a language, people, greeting or kin word
    ("Yoruba", "kia ora": gazetteers/not_people.txt), and a date with nothing but a year or an impossible day
    and month ("2029", "17/17")."""
    runs: list[list] = []  # [start, end, kind, probabilities]
    for (start, end), (p, lab) in sorted(pieces.items()):
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
        if sum(probs) / len(probs) < min_confidence:
            continue
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        if "\n" in text[start:end]:  # a run across a line break ("M\nPID"): the line it starts on
            end = text.index("\n", start, end)
        value = text[start:end]
        if identifies_nothing(value, kind):
            continue
        if kind in ("PHONE", "FAX") and sum(ch.isdigit() for ch in value) < 4:
            continue
        if kind == "NAME" and part_of_an_organisation(text, start, end):
            continue
        if _ACRONYM.fullmatch(value) and not _INITIALS_CUE.search(text[max(0, start - 30) : start]):
            continue
        if _HL7_FIELD.fullmatch(value) or names_no_one(text, start, end):
            continue
        if kind == "DATE" and not _DATE_LIKE.search(value):  # a year alone ("2029"), "17/17"
            continue
        if spans and start < spans[-1].end:  # widening met the span before
            spans[-1] = PhiSpan(spans[-1].start, max(end, spans[-1].end), spans[-1].kind)
        else:
            spans.append(PhiSpan(start, end, kind))
    return spans


def rules_and_recogniser(text: str, pieces: dict[tuple[int, int], tuple[float, int]], min_confidence: float,
                         rules: list[PhiSpan] | None = None) -> list[PhiSpan]:
    """The rules' spans (`rules`, when already found) and the recogniser's from its word-piece scores `pieces`
    at `min_confidence`, overlaps merged: what a scrubber with a recogniser replaces."""
    return merge_spans((find_spans(text) if rules is None else rules) + spans_from_pieces(text, pieces, min_confidence))


def merge_spans(spans: list[PhiSpan]) -> list[PhiSpan]:
    """Overlapping spans merged into one (the first's kind): a union of two finders overlaps by design."""
    out: list[PhiSpan] = []
    for sp in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and sp.start < out[-1].end:
            if sp.end > out[-1].end:
                out[-1] = PhiSpan(out[-1].start, sp.end, out[-1].kind)
            continue
        out.append(sp)
    return out
