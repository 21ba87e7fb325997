"""deid: a learned PHI recogniser, as an artifact the corpus stage scrubs with beside the rules.

Reads the annotated notes (`deid.data`, corpora/phi: every identifier marked, split by writer). Fine-tunes the
shipped sentence embedder as a BIO token classifier (rungs.curation's `train_recogniser`) on every split but
`deid.hold_out`, then chooses on `deid.floor_split` (held out) the confidence floor: the lowest mean PHI
probability at which the rules and the recogniser together keep `deid.target_precision` — a lower floor finds
more, and every span found there costs clinical text. `deid.test_splits` (held out, blind writers' spent
splits) are scored on every build and never tuned on.

Files: `model/` (the token classifier and its tokenizer), `deid.json` (how it reads: windows, floor, base),
`report.md`, `metrics.json`. Metrics: strict full-span recall and precision, with 95 % intervals over notes, of
the rules alone and of rules + recogniser on the floor split and each test split; the floor; training losses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rungs.curation import read_jsonl
from rungs.kernel import ConfigError, InputError, metric_entries, resolve_path

# transformers and torch load inside `run`: rungs.pipeline imports this module to fingerprint it

VERSION = 1
CONFIG = ("seed", "deid")
FLOORS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)  # confidence floors tried on the floor split


def sources(cfg) -> list[Path]:
    return [resolve_path(cfg.deid.data)]


def load_notes(path: Path) -> list[dict]:
    """Annotated notes: {"id", "split", "text", "spans": [{"start", "end", "kind"}]}, each span inside its text."""
    rows = []
    for line, row in read_jsonl(path):
        text, spans = row.get("text"), row.get("spans")
        if not isinstance(text, str) or not isinstance(spans, list) or not isinstance(row.get("split"), str):
            raise InputError(path, "expected a note with a split, a text and a list of spans", line)
        for sp in spans:
            if not (isinstance(sp, dict) and isinstance(sp.get("start"), int) and isinstance(sp.get("end"), int)
                    and 0 <= sp["start"] < sp["end"] <= len(text) and isinstance(sp.get("kind"), str)):
                raise InputError(path, f"span {sp!r} is not a start < end inside the text with a kind", line)
        rows.append(row)
    if not rows:
        raise InputError(path, "no annotated notes")
    return rows


def _check(d, splits: set[str]) -> None:
    named = {d.floor_split, *d.test_splits}
    if unknown := sorted(named - splits):
        raise ConfigError(f"deid: split(s) {unknown} are not in {d.data} (its splits: {', '.join(sorted(splits))})")
    if leaked := sorted(named - set(d.hold_out)):
        raise ConfigError(f"deid: {leaked} must be in deid.hold_out: the floor and the test scores need notes it never trained on")
    if not splits - set(d.hold_out):
        raise ConfigError("deid.hold_out holds every split: nothing is left to train on")


def choose_floor(notes: list[dict], pieces: dict[str, dict], target: float, floors=FLOORS) -> tuple[float, dict]:
    """The lowest floor at which rules + recogniser keep `target` precision on `notes` (`pieces`: the
    recogniser's word-piece scores per note text); the highest tried if none does. Returns it and the
    (recall, precision) of every floor tried."""
    from rungs.curation import find_spans, phi_scores, rules_and_recogniser

    rules = {note["text"]: find_spans(note["text"]) for note in notes}  # once, not once per floor
    tried = {}
    for floor in floors:
        found = {t: rules_and_recogniser(t, pieces[t], floor, rules[t]) for t in rules}
        scores = phi_scores(notes, found.__getitem__)
        tried[floor] = (scores["recall"][0], scores["precision"][0])
    good = [f for f in floors if tried[f][1] >= target]
    return (min(good) if good else max(floors)), tried


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    from rungs.curation import PHI_MODEL_DIR as MODEL_DIR
    from rungs.curation import PhiReading, PhiRecogniser, find_spans, phi_scores, rules_and_recogniser, train_recogniser
    from rungs.retrieval import model_path

    d = cfg.deid
    out, scratch = Path(out), Path(scratch)
    notes = load_notes(resolve_path(d.data))
    _check(d, {n["split"] for n in notes})
    train = [n for n in notes if n["split"] not in d.hold_out]
    reading = PhiReading(max_len=d.max_len, stride=d.stride, base=d.base)
    bar = progress(total=3, desc="deid")
    began = time.perf_counter()
    device = "cuda" if str(cfg.hardware.device).startswith("cuda") else "cpu"
    losses = train_recogniser(train, out, reading, model_path(d.base), scratch / "trainer", epochs=d.epochs, lr=d.lr, batch_size=d.batch_size, seed=cfg.seed, device=device)
    seconds = time.perf_counter() - began
    bar.update(1)

    recogniser = PhiRecogniser.from_model(out / MODEL_DIR, reading)
    scored = [d.floor_split, *d.test_splits]
    pieces = {n["text"]: recogniser.pieces(n["text"]) for n in notes if n["split"] in scored}  # the model reads each once
    floor, tried = choose_floor([n for n in notes if n["split"] == d.floor_split], pieces, d.target_precision)
    recogniser.reading.min_confidence = floor
    bar.update(1)

    metrics: dict = {"floor": floor, "train_notes": len(train), "train_spans": sum(len(n["spans"]) for n in train),
                     "train_seconds": round(seconds, 1), "train_loss_first": round(losses[0], 4) if losses else None,
                     "train_loss_final": round(losses[-1], 4) if losses else None}
    rows = []
    with_recogniser = lambda text: rules_and_recogniser(text, pieces[text], floor)  # noqa: E731
    for split in scored:
        part = [n for n in notes if n["split"] == split]
        for name, find in (("rules", find_spans), ("deid", with_recogniser)):
            s = phi_scores(part, find)
            prefix = f"{split}_{name}"
            metrics.update(metric_entries(f"{prefix}_recall", s["recall"], s["spans"]))
            metrics.update(metric_entries(f"{prefix}_precision", s["precision"], s["predictions"]))
            rows.append((split, name, s))
    last = d.test_splits[-1] if d.test_splits else d.floor_split  # the newest blind writer: the headline
    metrics["test_recall"], metrics["test_precision"] = metrics[f"{last}_deid_recall"], metrics[f"{last}_deid_precision"]
    metrics["test_rules_recall"] = metrics[f"{last}_rules_recall"]
    recogniser.save(out, floors_tried={str(k): v for k, v in tried.items()}, trained_on=sorted({n["split"] for n in train}))
    (out / "report.md").write_text(_report(d, metrics, rows, tried, len(train)))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    bar.update(1)
    bar.close()
    return metrics


def _report(d, m: dict, rows: list, tried: dict, n_train: int) -> str:
    lines = ["# De-identification: the rules, and the rules with the learned recogniser", "",
             f"Trained on {n_train} annotated notes (every split of `{d.data}` but {', '.join(d.hold_out)}), {d.epochs:g} "
             f"epochs at {d.lr:g}. Confidence floor {m['floor']:g}: the lowest at which rules + recogniser kept precision "
             f"{d.target_precision} on {d.floor_split}. Strict full-span recall (every letter and digit of an identifier "
             "replaced) and precision (a replacement touches an identifier), 95 % bootstrap intervals over notes.", "",
             "| split | scrubber | recall | precision | spans |", "|---|---|---:|---:|---:|"]
    for split, name, s in rows:
        (r, rl, rh), (p, pl, ph) = s["recall"], s["precision"]
        label = "rules" if name == "rules" else "rules + recogniser"
        lines.append(f"| {split} | {label} | {r:.3f} [{rl:.3f}, {rh:.3f}] | {p:.3f} [{pl:.3f}, {ph:.3f}] | {s['spans']} |")
    lines += ["", f"Floors tried on {d.floor_split} (recall, precision of rules + recogniser):", "",
              "| floor | recall | precision |", "|---:|---:|---:|"]
    lines += [f"| {f:g} | {r:.3f} | {p:.3f} |" for f, (r, p) in tried.items()]
    return "\n".join(lines) + "\n"
