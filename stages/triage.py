"""triage: the emergency detector the assistant consults first, trained and measured as an artifact.

Reads the labelled triage messages (corpora/triage: train, dev, test). Fine-tunes a copy of the shipped
sentence embedder on train (sentence-transformers, batch-all triplet loss over the categories, so
emergencies of one kind and harmless look-alikes of another pull apart; `triage.head` > 0 adds a binary
emergency loss beside it), fits a few small networks (or a logistic regression) on train (rungs.safety's
features), and picks on dev the decision threshold (the highest that still escalates `triage.target_recall`
of dev's emergencies) and the rule floor (the lowest probability at which a red flag adds no dev false
alarm); red-flag patterns that matched `triage.sure_min` train and dev emergencies and no harmless message
escalate at any probability. Test is scored once per build and never tuned on.

Files: `triage.json` (threshold, rule floor, sure patterns), `triage.safetensors` (the weights), `embedder/` (the fine-tuned
sentence-transformers model; absent when `triage.epochs=0`, then the shipped model is used as is),
`report.md`, `metrics.json`.
Metrics: recall, false-alarm rate (with 95 % intervals) on dev and test, for the classifier alone and
with the red-flag rules (`prompt.red_flags`) as chat and serve combine them, and recall per category.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rungs.curation import read_jsonl
from rungs.kernel import ConfigError, InputError, interval, metric_entries, resolve_path

# sentence-transformers, torch and scikit-learn load inside `run`: rungs.pipeline imports this module to
# fingerprint it

VERSION = 4  # 4: sure red-flag patterns; 3: averaged small networks, weights in triage.safetensors; 2: the rule floor; length-grouped batches
CONFIG = ("seed", "triage", "prompt.red_flags")  # the rules shape the combined metrics the gate reads
EMBEDDER_DIR = "embedder"
SPLITS = ("train", "dev", "test")


def own_process(cfg) -> bool:
    """Tuning the embedder draws on torch's process-wide random generator and thread count, which a stage
    training beside it in the pipeline's threads changes: the default run's build scored writer S 0.988 /
    0.117, the same recipe built alone 0.992 / 0.094. A process of its own gives every build the same weights."""
    return cfg.triage.epochs > 0  # the shipped embedder as is: no torch training, nothing to shield


def sources(cfg) -> list[Path]:
    return [resolve_path(getattr(cfg.triage, split)) for split in SPLITS]


def load_split(path: Path) -> list[dict]:
    rows = []
    for line, row in read_jsonl(path):
        if row.get("label") not in ("emergency", "not_emergency") or not isinstance(row.get("messages"), list):
            raise InputError(path, "expected label emergency|not_emergency and a messages list", line)
        rows.append(row)
    if not rows:
        raise InputError(path, "no labelled messages")
    return rows


def bury(rows: list[dict], share: float, seed: int, *, max_words: int = 50) -> list[dict]:
    """`rows` and, for `share` of them (at random; 1.5 = every one once and half twice), a copy that opens
    with a short harmless message of the split: a question, a refill, a mild complaint, then the original.

    The copy keeps the original's label: a routine first part changes nothing about the part after it. Blind
    writers' emergencies were missed when a routine request came first (corpora/triage/README.md): one
    embedding of the whole text averages the emergency with the routine part. Harmless rows get copies
    too, so two parts alone never say "emergency"."""
    from rungs.safety import user_text

    if share <= 0:
        return rows
    harmless = [user_text(r["messages"]) for r in rows if r["label"] == "not_emergency"]
    harmless = [t for t in harmless if len(t.split()) <= max_words]
    if not harmless:
        return rows
    rng = np.random.default_rng(seed)
    whole, part = divmod(share, 1.0)
    picks = [i for i in range(len(rows)) for _ in range(int(whole))]
    picks += sorted(rng.choice(len(rows), size=round(part * len(rows)), replace=False).tolist())
    out = list(rows)
    for i in picks:
        row, prefix = rows[i], harmless[int(rng.integers(len(harmless)))]
        first = next(k for k, m in enumerate(row["messages"]) if m.get("role") == "user")
        content = prefix + rng.choice([" ", "\n", " Also, ", " Oh and "]) + str(row["messages"][first]["content"])
        messages = [*row["messages"][:first], {"role": "user", "content": content}, *row["messages"][first + 1 :]]
        out.append({**row, "id": f"{row['id']}+buried", "style": "buried", "messages": messages})
    return out


def _check(cfg) -> None:
    t = cfg.triage
    if t.epochs < 0 or t.batch_size < 2 or t.lr <= 0 or t.c <= 0 or not 0 < t.target_recall <= 1 or t.head < 0:
        raise ConfigError(f"triage: epochs >= 0, batch_size >= 2, lr > 0, c > 0, head >= 0 and 0 < target_recall <= 1 "
                          f"expected; got {t}")


def finetune(cfg, rows: list[dict], out: Path):
    """A copy of the shipped embedder tuned on the train split (or the shipped one when epochs=0)."""
    from rungs.retrieval import load_embedder, model_path
    from rungs.safety import user_text

    t = cfg.triage
    if t.epochs == 0:
        return load_embedder(t.embedder)
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, losses

    from rungs.retrieval import fine_tune, save_model

    device = "cuda" if str(cfg.hardware.device).startswith("cuda") else "cpu"  # a GPU profile tunes in seconds
    categories = sorted({r["category"] for r in rows})
    texts = [user_text(r["messages"]) for r in rows]
    data = Dataset.from_dict({"text": texts, "label": [categories.index(r["category"]) for r in rows]})
    model = SentenceTransformer(str(model_path(t.embedder)), device=device, local_files_only=True)
    loss = losses.BatchAllTripletLoss(model)
    if t.head:
        emergency = [any(r["label"] == "emergency" for r in rows if r["category"] == c) for c in categories]
        loss = triplet_and_label(loss, emergency, t.head)
    fine_tune(model, data, loss, out, epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
              seed=cfg.seed, device=device, lengths=[len(x) for x in texts] if t.group_by_length else None)
    save_model(model, out / EMBEDDER_DIR)
    return model


def triplet_and_label(triplet, emergency: list[bool], weight: float):
    """Batch-all triplets over the categories plus `weight` x a binary cross-entropy of a linear head on the
    embedding (emergency or not; `emergency[c]` for category c), so tuning pulls the two labels apart directly
    and not only category from category: a nosebleed that is slowing and one that will not stop are different
    categories in close words. The head is dropped after tuning; the logistic regression is fitted as before."""
    import torch

    class TripletAndLabel(torch.nn.Module):  # defined here: torch loads only when a stage trains
        def __init__(self):
            super().__init__()
            self.triplet = triplet
            self.register_buffer("emergency", torch.tensor(emergency, dtype=torch.float32))
            self.head = torch.nn.Linear(triplet.sentence_embedder.get_embedding_dimension(), 1)

        def forward(self, sentence_features, labels):
            embeddings = self.triplet.sentence_embedder(sentence_features[0])["sentence_embedding"]
            logits = self.head(embeddings).squeeze(-1)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, self.emergency[labels])
            return self.triplet.batch_all_triplet_loss(labels, embeddings) + weight * bce

    return TripletAndLabel()


def classifier_fit(t) -> dict:
    """rungs.safety.fit_classifier's arguments from the `triage` config."""
    return {"hidden": t.hidden, "alpha": t.alpha, "c": t.c, "members": t.members}


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    from rungs.safety import Guardrails, features, train_classifier, user_text

    _check(cfg)
    t = cfg.triage
    data = {split: load_split(resolve_path(getattr(t, split))) for split in SPLITS}
    data["train"] = bury(data["train"], t.buried, cfg.seed)
    bar = progress(total=4, desc="triage")
    embedder = finetune(cfg, data["train"], out)
    bar.update(1)
    text = {s: [user_text(r["messages"]) for r in rows] for s, rows in data.items()}
    x = {s: features(embedder, text[s]) for s in data}
    y = {s: np.array([r["label"] == "emergency" for r in rows], dtype=int) for s, rows in data.items()}
    bar.update(1)
    rules = Guardrails(cfg.prompt)
    matched = {s: [rules.matching(t) for t in text[s]] for s in ("dev", "test")}  # one pass over the patterns
    ruled = {s: np.array([bool(m) for m in matched[s]]) for s in matched}
    classifier = train_classifier(x, y, ruled["dev"], target_recall=t.target_recall, seed=cfg.seed, embedder=t.embedder,
                                  **classifier_fit(t))
    classifier.sure = tuple(rules.sure(text["train"] + text["dev"], [*y["train"].astype(bool), *y["dev"].astype(bool)],
                                       t.sure_min))
    sure = {s: np.array([classifier.is_sure(m) for m in matched[s]]) for s in matched}
    scores = {s: classifier.probabilities(x[s]) for s in ("dev", "test")}
    bar.update(1)
    metrics: dict = {"threshold": round(classifier.threshold, 4), "rule_floor": round(classifier.rule_floor, 4),
                     "sure_patterns": len(classifier.sure)}
    per_category: dict[str, dict] = {}
    for split in ("dev", "test"):
        model_says = scores[split] >= classifier.threshold
        both = classifier.escalates(scores[split], ruled[split], sure[split])  # as Detector.check decides
        metrics.update(_rates(f"{split}_classifier", model_says, y[split]))
        metrics.update(_rates(split, both, y[split]))
        metrics.update(_rates(f"{split}_rules", ruled[split], y[split]))
        if split == "test":
            per_category = _per_category(data[split], both)
    for name, entry in per_category.items():
        metrics[f"test_recall_{name}"] = entry["recall"]
    classifier.save(out / "triage.json", embedder_dir=EMBEDDER_DIR if t.epochs else None)
    (out / "report.md").write_text(_report(metrics, per_category, {s: len(r) for s, r in data.items()}))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    bar.update(1)
    bar.close()
    return metrics


def _rates(prefix: str, predicted: np.ndarray, y: np.ndarray) -> dict:
    out = metric_entries(f"{prefix}_recall", interval(predicted[y == 1].astype(float)), int((y == 1).sum()))
    out.update(metric_entries(f"{prefix}_false_alarms", interval(predicted[y == 0].astype(float)), int((y == 0).sum())))
    return out


def _per_category(rows: list[dict], predicted: np.ndarray) -> dict[str, dict]:
    hits: dict[str, list[float]] = defaultdict(list)
    for row, p in zip(rows, predicted):
        if row["label"] == "emergency":
            hits[row["category"]].append(float(p))
    return {c: dict(zip(("recall", "lo", "hi"), (round(v, 3) for v in interval(h))), n=len(h)) for c, h in sorted(hits.items())}


def _report(m: dict, per_category: dict, sizes: dict) -> str:
    row = lambda label, p: (f"| {label} | {m[p + '_recall']:.3f} [{m[p + '_recall_lo']:.3f}, {m[p + '_recall_hi']:.3f}] "  # noqa: E731
                            f"| {m[p + '_false_alarms']:.3f} [{m[p + '_false_alarms_lo']:.3f}, {m[p + '_false_alarms_hi']:.3f}] |")
    lines = ["# Triage: emergencies escalated, false alarms", "",
             f"Messages: train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} (test written without sight of the "
             f"detector or the other splits). Threshold {m['threshold']:.3f} and rule floor {m['rule_floor']:.3f} (a red "
             f"flag escalates at or above it), both chosen on dev; {m['sure_patterns']} red-flag patterns that matched no "
             f"harmless train or dev message escalate at any probability. 95 % bootstrap intervals.", "",
             "| detector | recall (emergencies escalated) | false alarms (others escalated) |", "|---|---:|---:|"]
    for split in ("dev", "test"):
        lines += [row(f"{split}: rules only", f"{split}_rules"), row(f"{split}: classifier", f"{split}_classifier"),
                  row(f"{split}: rules + classifier", split)]
    lines += ["", "Test recall per category (rules + classifier):", "", "| category | recall | n |", "|---|---:|---:|"]
    lines += [f"| {c} | {e['recall']:.2f} [{e['lo']:.2f}, {e['hi']:.2f}] | {e['n']} |" for c, e in per_category.items()]
    return "\n".join(lines) + "\n"
