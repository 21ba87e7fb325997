"""The don't-know gate on labelled questions: ROC on dev and on the blind test split, and the chosen point.

    .venv/bin/python bench/gate_eval.py [--store DIR] [KEY=VALUE ...] [--no-write]

Builds corpus and index (default configuration plus overrides; reused from --store by fingerprint).
The index stage fitted the gate on corpora/gate/dev.jsonl (rungs.retrieval's Gate: the highest best-chunk cosine
that still answers 95 % of in-scope questions). This script scores dev and corpora/gate/test.jsonl
(written apart, without sight of the code) with the same score, prints the ROC AUC of each and what the
fitted threshold does on each — in-scope questions answered, out-of-scope refused, with 95 % bootstrap
intervals — draws both ROC curves with the chosen point into bench/gate_roc.png and writes the table to
bench/RESULTS.md under "## Don't-know gate".
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
PICTURE = ROOT / "bench" / "gate_roc.png"
HEADING = "## Don't-know gate"
SETS = {"dev": ROOT / "corpora" / "gate" / "dev.jsonl", "test": ROOT / "corpora" / "gate" / "test.jsonl"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "rungs-bench-store")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md and the picture alone")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. index.gate_answered=0.9")
    args = parser.parse_args(argv)

    from sklearn.metrics import roc_auc_score, roc_curve

    from rungs.kernel import compose, interval, progress_factory
    from rungs.pipeline import build
    from rungs.retrieval import Retriever, best_cosines
    from rungs.store import Store

    cfg, store, quiet = compose(args.overrides), Store(args.store), progress_factory(False)
    corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
    index = build("index", cfg, {"corpus": corpus}, store, progress=quiet).artifact
    retriever = Retriever(index.path, mode="dense")
    if retriever.gate is None:
        raise SystemExit(f"{index.ref} has no fitted gate ({index.metrics.get('gate')})")
    t = retriever.gate.threshold
    lines = [f"| set | questions (in / out) | ROC AUC | in-scope answered | out-of-scope refused |", "|---|---|---:|---:|---:|"]
    curves = {}
    for name, path in SETS.items():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        y = np.array([int(r["in_scope"]) for r in rows])
        s = best_cosines(retriever, [r["question"] for r in rows])
        answered = interval((s[y == 1] >= t).astype(float))
        refused = interval((s[y == 0] < t).astype(float))
        curves[name] = roc_curve(y, s)
        lines.append(f"| {name} | {int(y.sum())} / {int((1 - y).sum())} | {roc_auc_score(y, s):.3f} | "
                     f"{answered[0]:.3f} [{answered[1]:.3f}, {answered[2]:.3f}] | {refused[0]:.3f} [{refused[1]:.3f}, {refused[2]:.3f}] |")
    print(f"threshold (cosine, fitted on dev): {t:.4f}")
    print("\n".join(lines))
    if args.no_write:
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=100)
    for name, (fpr, tpr, thresholds) in curves.items():
        ax.plot(fpr, tpr, label=f"{name}")
        k = int(np.argmin(np.abs(thresholds - t)))
        ax.plot([fpr[k]], [tpr[k]], "o", color=ax.lines[-1].get_color())
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("out-of-scope answered (false positive rate)")
    ax.set_ylabel("in-scope answered (true positive rate)")
    ax.set_title(f"don't-know gate (dot: threshold {t:.3f})", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PICTURE, metadata={"Software": None})
    plt.close(fig)
    from rungs.kernel import replace_section

    command = "python bench/gate_eval.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([HEADING, "",
                      f"`{command.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores; index "
                      f"{index.ref} `{index.id}` (MiniLM, the sample corpus). Score: the best chunk's cosine. Threshold "
                      f"{t:.4f}, fitted on dev (answers >= 95 % of its in-scope questions); test was written without sight "
                      "of the code and is scored, never tuned on. 95 % bootstrap intervals. ROC curves: "
                      "[gate_roc.png](gate_roc.png).", "", *lines, ""])
    replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
