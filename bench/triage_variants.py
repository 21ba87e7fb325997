"""Which way of training the emergency classifier lowers false alarms without losing recall?

    .venv/bin/python bench/triage_variants.py --extra-writer tr3- --check-writer t2- \
        [--variants now,more,...] [--seeds 0,1,2] [--json ROWS] [--load ROWS] [--no-write] [KEY=VALUE ...]

(--extra-writer / --check-writer take one writer's messages out of the train split by id prefix: above,
writer G's 600 are the extra training messages and writer D's 420, once the blind test, the check; or give
files with --extra PATH and --check PATH.)

Every variant trains the triage stage's own pieces (`stages/triage.finetune`, `rungs.safety.features`,
`fit_classifier`) on `triage.train` (plus the `--extra` files where the variant says so), picks its threshold
on `triage.dev` for `triage.target_recall` exactly as the stage does, and is scored on `--check`: labelled
messages that neither training nor the threshold saw (a spent test split, never the blind one). Each
variant runs under several seeds, because one fine-tuning run moves false alarms by several points.

Reported per variant (mean over seeds, and the range): dev false alarms at the dev threshold, and on the
check split recall and false alarms of the classifier alone, of rules OR classifier (as chat combines
them), and of red flags that escalate only above the rule floor chosen on dev (`rungs.safety.rule_floor_for`,
as the stage and Detector do), with 95 % bootstrap intervals of the first seed. `hardware.device=cuda` tunes on a GPU (seconds instead of minutes).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Emergency triage: training variants"
# name: (train on the --extra files too?, overrides); variants that differ only in the classifier (triage.c, hidden,
# alpha, members) share one tuned embedder. The variants from before 2026-12-05 were measured with one logistic
# regression, so they keep it (triage.hidden=0, added below).
_LOGISTIC_ERA: dict[str, tuple[bool, list[str]]] = {
    "now": (False, ["triage.lr=2e-5", "triage.group_by_length=false"]),  # the stage until 2026-12-04 (writers A, E)
    "more": (True, ["triage.lr=2e-5"]),      # the same recipe on the extra messages, batches grouped by length
    "more-lr5e-5": (True, []),               # the default from 2026-12-04 (its train split also holds the check's writer)
    "more-2ep": (True, ["triage.lr=2e-5", "triage.epochs=2"]),
    "more-random": (True, ["triage.lr=2e-5", "triage.group_by_length=false"]),
    "more-lr5e-5-random": (True, ["triage.group_by_length=false"]),
    "more-2ep-random": (True, ["triage.lr=2e-5", "triage.epochs=2", "triage.group_by_length=false"]),
    "more-3ep-random": (True, ["triage.lr=2e-5", "triage.epochs=3", "triage.group_by_length=false"]),
    "more-c0.3-random": (True, ["triage.lr=2e-5", "triage.c=0.3", "triage.group_by_length=false"]),
    "more-c30-random": (True, ["triage.lr=2e-5", "triage.c=30", "triage.group_by_length=false"]),
    "more-frozen": (True, ["triage.epochs=0"]),
    "buried-0.5": (False, ["triage.buried=0.5"]),  # half of train again, each after a harmless message (stages/triage.bury)
    "buried-1": (False, ["triage.buried=1.0"]),
    "head-1": (False, ["triage.head=1.0"]),        # triplets + a binary emergency head while tuning
    "head-0.3": (False, ["triage.head=0.3"]),
}
VARIANTS: dict[str, tuple[bool, list[str]]] = {
    **{name: (extra, [*overrides, "triage.hidden=0"]) for name, (extra, overrides) in _LOGISTIC_ERA.items()},
    "default": (False, []),                        # the stage's recipe as configured, on train alone
    "logistic": (False, ["triage.hidden=0"]),      # one logistic regression: the classifier until 2026-12-05
    "mlp-1": (False, ["triage.members=1"]),        # one network, not the mean of five
    "default-more": (True, []),                    # the stage's recipe on train and the --extra files
}


def run_variant(name: str, seed: int, args, data: dict, rules, work: Path, cache: dict) -> dict:
    import numpy as np

    from rungs.kernel import compose
    from rungs.safety import features, train_classifier, user_text
    from stages.triage import bury, classifier_fit, finetune

    use_extra, overrides = VARIANTS[name]
    cfg = compose([*args.overrides, *overrides, f"seed={seed}"])
    train = bury(data["train"] + (data["extra"] if use_extra else []), cfg.triage.buried, seed)
    texts = {s: [user_text(r["messages"]) for r in rows] for s, rows in (("train", train), ("dev", data["dev"]),
                                                                          ("check", data["check"]))}
    t_cfg = cfg.triage
    key = (use_extra, t_cfg.embedder, t_cfg.epochs, t_cfg.lr, t_cfg.batch_size, t_cfg.group_by_length, t_cfg.buried, t_cfg.head,
           seed)
    if key not in cache:
        out = work / f"{name}-{seed}"
        out.mkdir(parents=True, exist_ok=True)
        embedder = finetune(cfg, train, out)
        cache[key] = {s: features(embedder, t) for s, t in texts.items()}
    x = cache[key]
    y = {s: np.array([r["label"] == "emergency" for r in rows], dtype=int)
         for s, rows in (("train", train), ("dev", data["dev"]), ("check", data["check"]))}
    ruled = {s: np.array([rules.match(t) is not None for t in texts[s]]) for s in ("dev", "check")}
    classifier = train_classifier(x, y, ruled["dev"], target_recall=t_cfg.target_recall, seed=seed, **classifier_fit(t_cfg))
    score = {s: classifier.probabilities(x[s]) for s in ("dev", "check")}
    t, floor = classifier.threshold, classifier.rule_floor
    decisions = {"classifier": score["check"] >= t, "rules OR classifier": (score["check"] >= t) | ruled["check"],
                 "rules above the floor": classifier.escalates(score["check"], ruled["check"])}
    yc = y["check"]
    row = {"variant": name, "seed": seed, "threshold": t, "floor": floor, "train_n": len(train),
           "check_scores": score["check"].tolist(), "check_ruled": ruled["check"].tolist(),
           "dev_false_alarms": float((score["dev"][y["dev"] == 0] >= t).mean()),
           "check_auc": _auc(score["check"], yc)}
    for label, d in decisions.items():
        row[label] = {"recall": d[yc == 1].astype(float).tolist(), "false_alarms": d[yc == 0].astype(float).tolist()}
    return row


def _auc(scores, y) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def summarize(rows: list[dict]) -> list[str]:
    import numpy as np

    from rungs.kernel import interval

    lines = ["| variant | train n | seeds | dev false alarms | check AUC | detector | check recall | check false alarms |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    for name in dict.fromkeys(r["variant"] for r in rows):
        group = [r for r in rows if r["variant"] == name]
        labels = [x for x in ("classifier", "rules OR classifier", "rules above the floor") if x in group[0]]
        for k, label in enumerate(labels):
            cells = []
            for metric in ("recall", "false_alarms"):
                means = [float(np.mean(r[label][metric])) for r in group]
                _, lo, hi = interval(group[0][label][metric])
                spread = f" ({min(means):.3f}–{max(means):.3f})" if len(group) > 1 else ""
                cells.append(f"{np.mean(means):.3f}{spread} [{lo:.3f}, {hi:.3f}]")
            head = (f"| {name} | {group[0]['train_n']} | {len(group)} | "
                    f"{np.mean([r['dev_false_alarms'] for r in group]):.3f} | {np.mean([r['check_auc'] for r in group]):.3f} | "
                    if k == 0 else "| | | | | | ")
            lines.append(f"{head}{label} | {cells[0]} | {cells[1]} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more training messages (JSONL, triage format)")
    parser.add_argument("--check", type=Path, help="held-out labelled messages to score on (not the blind test)")
    parser.add_argument("--extra-writer", default="", help="id prefix of train messages used only as --extra (e.g. tr3-)")
    parser.add_argument("--check-writer", default="", help="id prefix of train messages held out as the check (e.g. t2-)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated (default all: {','.join(VARIANTS)})")
    parser.add_argument("--seeds", default="0,1,2", help="seeds per variant")
    parser.add_argument("--json", type=Path, help="also write every row (per seed, per message) here")
    parser.add_argument("--load", type=Path, help="summarise rows a --json run wrote (e.g. on a GPU machine); train nothing")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant, e.g. hardware.device=cuda")
    args = parser.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    if unknown := [n for n in names if n not in VARIANTS]:
        parser.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")

    from rungs.kernel import compose, resolve_path
    from rungs.safety import Guardrails
    from stages.triage import load_split

    cfg = compose(args.overrides)
    if bool(args.check) == bool(args.check_writer):
        parser.error("give one of --check PATH and --check-writer PREFIX")
    train = load_split(resolve_path(cfg.triage.train))
    writer = lambda r, prefix: bool(prefix) and r["id"].startswith(prefix)  # noqa: E731
    data = {"train": [r for r in train if not writer(r, args.check_writer) and not writer(r, args.extra_writer)],
            "dev": load_split(resolve_path(cfg.triage.dev)),
            "check": [r for r in train if writer(r, args.check_writer)] if args.check_writer else load_split(args.check),
            "extra": [r for r in train if writer(r, args.extra_writer)] + [row for path in args.extra for row in load_split(path)]}
    if not data["check"]:
        parser.error(f"no check messages (--check-writer {args.check_writer!r} matches no train id)")
    ids = {s: {r["id"] for r in rows} for s, rows in data.items()}
    for a, b in (("check", "train"), ("check", "dev"), ("check", "extra"), ("extra", "train"), ("extra", "dev")):
        if ids[a] & ids[b]:
            raise SystemExit(f"{a} and {b} share ids, e.g. {sorted(ids[a] & ids[b])[:3]}: the check must be held out")
    rules = Guardrails(cfg.prompt)
    rows, cache = (json.loads(args.load.read_text()) if args.load else []), {}
    with tempfile.TemporaryDirectory(prefix="triage-variants-") as tmp:
        for name in [] if args.load else names:
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append(run_variant(name, seed, args, data, rules, Path(tmp), cache))
                r = rows[-1]
                print(f"{name} seed {seed}: dev FA {r['dev_false_alarms']:.3f}, check AUC {r['check_auc']:.3f}, "
                      + ", ".join(f"{k} {sum(r[k]['recall']) / len(r[k]['recall']):.3f}/"
                                  f"{sum(r[k]['false_alarms']) / len(r[k]['false_alarms']):.3f}"
                                  for k in ("classifier", "rules OR classifier", "rules above the floor")), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows))
    lines = summarize(rows)
    print("\n".join(lines))
    if not args.no_write:
        from rungs.kernel import replace_section

        command = "python bench/triage_variants.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        text = "\n".join([
            HEADING, "",
            f"`{command.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores. Train: "
            f"{len(data['train'])} messages (+ {len(data['extra'])} extra where the variant says so); threshold on dev "
            f"({len(data['dev'])}) for recall {cfg.triage.target_recall}; check: {len(data['check'])} held-out messages "
            f"({int(sum(r['label'] == 'emergency' for r in data['check']))} emergencies). Mean over seeds (range), "
            f"[95 % bootstrap interval of the first seed].", "", *lines, ""])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
