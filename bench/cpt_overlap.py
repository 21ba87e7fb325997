"""A row of bench/cpt_ablation.py, its independent domain set split by how much of each document's text
the row's training documents already contain: does the gain hold where nothing was seen?

    .venv/bin/python bench/cpt_overlap.py [--row default] [--store DIR]

MedQuAD's NIH answers share templates across conditions ("This condition is inherited in an autosomal
recessive pattern, which means ..."), so a document on a held-out condition can still repeat training text.
Overlap = share of a document's 13-word sequences found in the row's training documents. Reads the
per-document scores the ablation kept in --store (run `cpt_ablation.py --rows base,ROW` first); prints a
Markdown table: perplexity with 95 % bootstrap intervals over documents, and the change with a paired one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from cpt_ablation import DEFAULT_STORE, MODEL, ROWS, yardstick  # noqa: E402

SET = "domain_independent"


def grams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def main(argv: list[str] | None = None) -> int:
    import pyarrow.parquet as pq

    from rungs.kernel import compose, interval, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store
    from rungs.train import model_tokenizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", default="default", choices=[r for r in ROWS if r not in ("base", "stream")])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the ablation's artifact store")
    args = parser.parse_args(argv)
    store, quiet = Store(args.store), progress_factory(False)
    rows = {}
    for name in ("base", args.row):
        path = args.store / "cpt-ablation" / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"{path}: missing; run bench/cpt_ablation.py --rows base,{args.row} --store {args.store}")
        rows[name] = json.loads(path.read_text())["scores"][SET]
    base = build("base", compose(MODEL), {}, store, progress=quiet).artifact
    tokenizer = model_tokenizer(base)
    docs = yardstick(store, tokenizer, quiet)[1][SET]  # the ablation's, in its order
    if len(docs) != len(rows["base"][5]):
        raise SystemExit("the yardstick changed since the rows were scored: rerun the ablation")
    corpus = build("corpus", compose([*MODEL, *ROWS[args.row]]), {}, store, progress=quiet).artifact
    seen: set = set()
    for d in pq.read_table(Path(corpus.path) / "documents.parquet", columns=["text", "split"]).to_pylist():
        if d["split"] == "train":
            seen |= grams(d["text"])
    overlap = [len(g & seen) / max(1, len(g)) for g in (grams(tokenizer.decode(ids)) for _, ids in docs)]
    (*_, base_nll, tokens), (*_, row_nll, _) = rows["base"], rows[args.row]
    print(f"| documents (13-word overlap with the training text) | n | tokens | base | {args.row} | change (paired) |\n"
          "|---|---:|---:|---:|---:|---:|")
    # evaluate already leaves out pages at >= 10 %: the question left is whether the gain needs any repeat at all
    for label, keep in (("all", lambda o: True), ("no 13-word sequence seen", lambda o: o == 0),
                        ("0 < overlap <= 10 %", lambda o: 0 < o <= 0.1), ("overlap > 10 %", lambda o: o > 0.1)):
        ids = [k for k, o in enumerate(overlap) if keep(o)]
        if not ids:
            print(f"| {label} | 0 | | | | |")
            continue
        w = [tokens[k] for k in ids]
        cells = ["{:.2f} [{:.2f}, {:.2f}]".format(*interval([nll[k] for k in ids], w, exp=True)) for nll in (base_nll, row_nll)]
        ratio, lo, hi = interval([row_nll[k] - base_nll[k] for k in ids], w, exp=True)
        print(f"| {label} | {len(ids)} | {sum(w)} | {cells[0]} | {cells[1]} | "
              f"{(ratio - 1) * 100:+.1f} % [{(lo - 1) * 100:+.0f}, {(hi - 1) * 100:+.0f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
