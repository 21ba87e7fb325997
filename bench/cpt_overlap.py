"""The `medquad` row of bench/cpt_ablation.py, its independent domain set split by how much of each
document's text the MedQuAD training documents already contain: does the gain hold where nothing was seen?

    .venv/bin/python bench/cpt_overlap.py [--store DIR]

MedQuAD's NIH answers share templates across conditions ("This condition is inherited in an autosomal
recessive pattern, which means ..."), so a document on a held-out condition can still repeat training text.
Overlap = share of a document's 13-word sequences found in the row's training documents. Uses (and builds,
if absent) the ablation's artifacts in --store; prints a Markdown table with 95 % bootstrap intervals.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from cpt_ablation import DEFAULT_STORE, MODEL, ROWS, independent_sets  # noqa: E402


def grams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def main(argv: list[str] | None = None) -> int:
    import pyarrow.parquet as pq

    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store
    from rungs.train import load_model, model_tokenizer, perplexity, score_documents

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the ablation's artifact store")
    args = parser.parse_args(argv)
    store, quiet = Store(args.store), progress_factory(False)
    base = build("base", compose(MODEL), {}, store, progress=quiet).artifact
    tokenizer = model_tokenizer(base)
    default_corpus = build("corpus", compose(MODEL), {}, store, progress=quiet).artifact
    docs = independent_sets(compose(MODEL), default_corpus, tokenizer)["domain_independent"]  # the ablation's yardstick
    cfg = compose([*MODEL, *ROWS["medquad"]])
    corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
    cpt = build("cpt", cfg, {"base": base, "corpus": corpus}, store, progress=quiet).artifact
    seen: set = set()
    for d in pq.read_table(Path(corpus.path) / "documents.parquet", columns=["text", "split"]).to_pylist():
        if d["split"] == "train":
            seen |= grams(d["text"])
    overlap = {i: len(grams(tokenizer.decode(ids)) & seen) / max(1, len(grams(tokenizer.decode(ids)))) for i, ids in docs}
    p = cfg.evaluate.perplexity
    scores = {}
    for name, art in (("base", base), ("cpt", cpt)):
        model = load_model(art, cfg.hardware)
        scores[name] = {s.doc_id: s for s in score_documents(model, docs, bos_id=tokenizer.bos_token_id, pad_id=tokenizer.pad_token_id,
                                                             window=p.window, stride=p.stride, batch_tokens=p.batch_tokens)}
    print("| documents (13-word overlap with the training text) | n | tokens | base | cpt on MedQuAD |\n|---|---:|---:|---:|---:|")
    for label, keep in (("all", lambda o: True), ("overlap <= 10 %", lambda o: o <= 0.1), ("overlap > 10 %", lambda o: o > 0.1)):
        ids = [i for i, _ in docs if keep(overlap[i])]
        cells = ["{:.2f} [{:.2f}, {:.2f}]".format(*perplexity([scores[m][i] for i in ids], cfg.seed)) for m in ("base", "cpt")]
        print(f"| {label} | {len(ids)} | {sum(scores['base'][i].tokens for i in ids)} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
