"""The retriever stage's choices made again, with the current code, on a built retriever artifact's trained
embedder and reranker: what a change to the choice rules (stages/retriever.py `tune`; rungs.retrieval's
`choose_fusion`, `choose_rerank`, `calibrate`) makes of the same models, without hours of retraining.

    .venv/bin/python bench/retriever_choices.py --store DIR RETRIEVER_ID

The artifact's own manifest gives the configuration it was built with (its corpus input gives the pages);
the current defaults fill any key added since (retriever.rerank_min_gain, say). The same dev questions and
dev index are rebuilt exactly as the stage builds them. Prints what was chosen then and now and the dev
metrics; the artifact is only read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def overrides(config: dict) -> list[str]:
    """The manifest's recorded configuration as Hydra overrides on top of retriever=medquad's group."""
    out = [f"seed={config['seed']}"]
    for key, value in config["retriever"].items():
        out.append(f"retriever.{key}={json.dumps(value)}")
    out += [f"{k}={json.dumps(v)}" for k, v in config.items() if k.startswith("index.")]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="the artifact store holding the retriever and its corpus")
    ap.add_argument("retriever", help="the retriever artifact: id, unique id prefix or retriever:vN")
    args = ap.parse_args(argv)

    from rungs.kernel import compose, progress_factory
    from rungs.retrieval import LEARNED_FILE
    from rungs.store import Store
    from stages import index as index_stage
    from stages.retriever import dev_documents, question_splits, sample_questions, tune

    store = Store(args.store)
    art = store.resolve(args.retriever)
    cfg = compose(["retriever=medquad", *overrides(art.config)])
    r = cfg.retriever
    docs = index_stage.read_documents(Path(store.get(art.inputs["corpus"]).path))
    _, dev = sample_questions(r, question_splits(r, docs), random.Random(cfg.seed))
    built = json.loads((art.path / LEARNED_FILE).read_text())
    spec = {k: built[k] for k in ("base_embedder", "embedder", "reranker", "title_prefix")}
    with tempfile.TemporaryDirectory() as scratch:
        choices, _, metrics = tune(cfg, dev_documents(r, docs), dev, art.path, spec, progress_factory(False), Path(scratch))
    print(f"retriever {art.ref}: {len(dev)} dev questions, rerank_min_gain {r.rerank_min_gain}")
    for name, chosen in (("built", built), ("now", choices)):
        print(f"  {name:5}  fusion {chosen['fusion']}  rerank {chosen['rerank']}  min_relevance {chosen['min_relevance']}")
    print("  dev MRR: " + ", ".join(f"{k[4:-4]} {v}" for k, v in metrics.items() if k.endswith("_mrr")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
