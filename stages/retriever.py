"""retriever: retrieval learned from the corpus' own question-answer pairs, as an artifact the index takes.

Reads the corpus artifact's documents and `retriever.pairs` (JSONL: a question and the id of the corpus
document answering it; MedQuAD's rows are exactly that). Conditions — document titles — are split by
`rungs.curation.condition_split`: the test conditions (`retriever.test_conditions`; at 0.1 the very ones
corpus=medquad keeps out of training) are never read here, dev conditions (`retriever.dev_conditions`)
choose, train conditions train. A question's relevant documents are every document the pairs give it.

1. **embedder** — the index's embedder fine-tuned on train pairs with MultipleNegativesRankingLoss: each
   question against its passage, every other passage in the batch, and `hard_negatives` passages of another
   document on the same condition (the page on X's treatment for a question on X's causes: the confusion
   issue #12 found), else BM25's best wrong passage. A passage is a document's first chunk, as the index
   chunks it.
2. **reranker** — a cross-encoder (rungs.retrieval's `new_reranker`: MiniLM's first `reranker_layers` layers read
   jointly over question and passage, the cosine of their two sides as the score)
   trained with binary cross-entropy on train questions, their passage (1) and `reranker_negatives` wrong
   ones (0) of the same two kinds.
3. **choices** — a dev index (the index stage's own build over the dev conditions' documents, embedded by
   the new embedder) answers the dev questions; rungs.retrieval picks the fusion of dense and BM25, the
   reranker's weight over the top `rerank_depth` (0 unless it adds `rerank_min_gain` to the dev MRR: then
   `auto` does not rerank), a relevance calibration per mode, and `min_relevance`: the best hit's relevance,
   in the mode `auto` searches, that still answers `index.gate_answered` of them (the don't-know threshold
   of an index without gate questions of its own).

Files: `embedder/` and `reranker/` (when trained), `retriever.json` (what an index built from this takes:
stages/index.py `learned_spec`), `tuning.json` (every fusion and rerank weight tried, with its dev MRR).
Metrics: pairs per split, dev recall@k / MRR / nDCG@10 per mode, the choices, training seconds.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

from rungs.curation import read_jsonl
from rungs.kernel import ConfigError, InputError, resolve_path

# sentence-transformers, datasets, torch and scikit-learn load inside `run`: rungs.pipeline imports this
# module to fingerprint it. Its inputs are the ladder's (rungs.kernel: corpus).

VERSION = 3  # 3: the reranker's segment-cosine head (a linear head never learned), its share only for a dev gain; 2: unregularised relevance calibration; 1: first
# the chunking, embedder and BM25 settings shape the passages trained on and the dev index choices are made on
CONFIG = ("seed", "retriever", "index.embedder", "index.chunk_words", "index.overlap_words", "index.title_prefix",
          "index.bm25_k1", "index.bm25_b", "index.rrf_k", "index.gate_answered")
EMBEDDER_DIR = "embedder"
RERANKER_DIR = "reranker"
TUNING_FILE = "tuning.json"
KS = (1, 5, 10)  # the recall@k the dev metrics report, as evaluate does


def own_process(cfg) -> bool:
    """Its embedder and reranker tune with torch's process-wide random generator and thread count, which
    cpt, training beside it in the pipeline's threads, would change: a process of its own keeps builds alike."""
    return True


def sources(cfg) -> list[Path]:
    return [resolve_path(p) for p in cfg.retriever.pairs]


def _check(cfg) -> None:
    """What the schema's ranges cannot say (rungs.kernel._schema checks every number at composition)."""
    if not cfg.retriever.pairs:
        raise ConfigError("retriever.pairs is empty: the retriever stage learns from question-answer pairs "
                          "(e.g. retriever=medquad); leave the stage out of pipeline.stages without them")


def load_pairs(r, doc_ids: set[str]) -> list[tuple[str, str]]:
    """(question, document id) pairs from retriever.pairs whose document is in the corpus, without repeats."""
    pairs: dict[tuple[str, str], None] = {}
    for path in (resolve_path(p) for p in r.pairs):
        for line, row in read_jsonl(path):
            question, doc = row.get(r.question_field), row.get(r.doc_field)
            if not isinstance(question, str) or doc is None:
                raise InputError(path, f"expected a {r.question_field!r} string and a {r.doc_field!r} in every row", line)
            if question.strip() and str(doc) in doc_ids:
                pairs[(question.strip(), str(doc))] = None
    if not pairs:
        raise InputError(resolve_path(r.pairs[0]), f"no pair names a document of the corpus by {r.doc_field!r}")
    return list(pairs)


def split_pairs(r, pairs, title_of: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """{split: {question: its relevant documents}}, the split being its document's condition's."""
    from rungs.curation import condition_split

    out: dict[str, dict[str, set[str]]] = {"train": defaultdict(set), "dev": defaultdict(set), "test": defaultdict(set)}
    for question, doc in pairs:
        out[condition_split(title_of[doc], r.test_conditions, r.dev_conditions)][question].add(doc)
    return {s: dict(q) for s, q in out.items()}


def question_splits(r, docs: dict[str, list]) -> dict[str, dict[str, set[str]]]:
    """The pairs naming a corpus document, split by their document's condition (`split_pairs`)."""
    title_of = {str(d): t or "" for d, t in zip(docs["id"], docs["title"])}
    return split_pairs(r, load_pairs(r, set(title_of)), title_of)


def sample_questions(r, splits, rng: random.Random) -> tuple[list[tuple[str, set[str]]], dict[str, set[str]]]:
    """The train questions (up to `max_pairs`) and dev questions (up to `max_dev_questions`) the stage uses."""
    train = sorted(splits["train"].items())
    if r.max_pairs and len(train) > r.max_pairs:
        train = sorted(rng.sample(train, r.max_pairs))
    dev = dict(sorted(splits["dev"].items()))
    if r.max_dev_questions and len(dev) > r.max_dev_questions:
        dev = dict(sorted(rng.sample(sorted(dev.items()), r.max_dev_questions)))
    return train, dev


def dev_documents(r, docs: dict[str, list]) -> dict[str, list]:
    """Every page of the dev conditions, answered by a pair or not: what the dev index holds."""
    from rungs.curation import condition_split

    keep = [i for i, t in enumerate(docs["title"]) if condition_split(t, r.test_conditions, r.dev_conditions) == "dev"]
    return {c: [v[i] for i in keep] for c, v in docs.items()}


class Passages:
    """Each training document's first chunk (what the index embeds of it), its condition, and BM25 over them."""

    def __init__(self, idx, docs: dict[str, list], ids: list[str], work: Path):
        from rungs.curation import condition_words
        from rungs.retrieval import bm25, chunk_text

        from stages.index import indexed_texts  # what the index embeds of a chunk is the index stage's rule

        at = {d: i for i, d in enumerate(docs["id"])}
        self.ids = ids
        self.title = {d: docs["title"][at[d]] or "" for d in ids}
        self.chunk = {d: (chunk_text(docs["text"][at[d]] or "", idx.chunk_words, idx.overlap_words) or [""])[0] for d in ids}
        # what the embedder reads of it: the same text the index embeds (with its title under index.title_prefix)
        self.text = dict(zip(ids, indexed_texts(idx, {"title": [self.title[d] for d in ids], "text": [self.chunk[d] for d in ids]})))
        self.by_condition: dict[frozenset, list[str]] = defaultdict(list)  # condition words -> its pages
        for d in ids:
            self.by_condition[condition_words(self.title[d])].append(d)
        self._condition = {d: condition_words(self.title[d]) for d in ids}
        bm25.build([self.text[d] for d in ids], idx.bm25_k1, idx.bm25_b, work / "bm25")
        self._bm25 = bm25.BM25Index(work / "bm25")

    def negatives(self, questions: list[str], relevant: list[set[str]], n: int, rng: random.Random) -> list[list[str]]:
        """Up to n wrong documents per question: same condition first (shuffled), then BM25's best."""
        lexical = self._bm25.search(questions, n + 8) if n else [[] for _ in questions]
        out = []
        for rel, found in zip(relevant, lexical):
            condition = self._condition[next(iter(sorted(rel)))]
            same = [d for d in self.by_condition[condition] if d not in rel] if condition else []
            rng.shuffle(same)
            picked = same[:n]
            for i, _ in found:
                if len(picked) >= n:
                    break
                d = self.ids[i]
                if d not in rel and d not in picked:
                    picked.append(d)
            out.append(picked)
        return out


def finetune_embedder(cfg, questions, positives, negatives, passages: Passages, out: Path, work: Path):
    """The index's embedder tuned on (question, passage, hard negative passages) with in-batch negatives."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, losses

    from rungs.retrieval import fine_tune, model_path, save_model

    r = cfg.retriever
    model = SentenceTransformer(str(model_path(cfg.index.embedder)), device="cpu", local_files_only=True)
    width = min(len(n) for n in negatives) if negatives else 0  # every row needs the same number of columns
    columns = {"anchor": questions, "positive": [passages.text[d] for d in positives]}
    for j in range(width):
        columns[f"negative_{j + 1}"] = [passages.text[n[j]] for n in negatives]
    full_length, model.max_seq_length = model.max_seq_length, r.max_seq_length  # short passages train faster
    fine_tune(model, Dataset.from_dict(columns), losses.MultipleNegativesRankingLoss(model), work,
              epochs=r.embedder_epochs, batch_size=r.embedder_batch_size, lr=r.embedder_lr, seed=cfg.seed,
              warmup_ratio=0.1, no_duplicates=True)
    model.max_seq_length = full_length  # the index embeds whole chunks
    save_model(model, out / EMBEDDER_DIR)
    return width


def train_reranker(cfg, questions, positives, negatives, passages: Passages, out: Path, work: Path) -> int:
    """A cross-encoder trained on (question, passage, 1) and (question, wrong passage, 0); returns its examples."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import losses

    from rungs.retrieval import fine_tune, model_path, new_reranker, passage, save_model

    r = cfg.retriever
    rows = {"query": [], "passage": [], "label": []}
    for q, pos, negs in zip(questions, positives, negatives):
        for d, label in [(pos, 1.0)] + [(n, 0.0) for n in negs]:
            rows["query"].append(q)
            rows["passage"].append(passage(passages.title[d], passages.chunk[d]))
            rows["label"].append(label)
    torch.manual_seed(cfg.seed)  # the fresh head's initial weights
    model = new_reranker(model_path(cfg.index.embedder), r.reranker_layers, r.reranker_max_length)
    # as many negatives as positives would teach "relevant" a prior of 1/(1+n); pos_weight evens it out
    loss = losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(max(1, r.reranker_negatives))))
    fine_tune(model, Dataset.from_dict(rows), loss, work, epochs=r.reranker_epochs,
              batch_size=r.reranker_batch_size, lr=r.reranker_lr, seed=cfg.seed, warmup_ratio=0.1)
    save_model(model, out / RERANKER_DIR)
    return len(rows["label"])


def tune(cfg, docs, dev: dict[str, set[str]], out: Path, spec: dict, progress, scratch: Path) -> tuple[dict, dict, dict]:
    """Fusion, rerank weight, calibrations and min_relevance chosen on a dev index; (choices, tried, metrics)."""
    import numpy as np

    from rungs.retrieval import (
        FUSION_DEPTH,
        Calibration,
        Retriever,
        answering_threshold,
        calibrate,
        choose_fusion,
        choose_rerank,
        doc_order,
        judge,
        load_reranker,
        rerank_logits,
        rrf,
        summarize,
    )

    from stages import index as index_stage  # the dev index is built exactly as an index is

    dev_dir = scratch / "dev-index"
    if dev_dir.exists():
        import shutil

        shutil.rmtree(dev_dir)
    dev_dir.mkdir(parents=True)
    if spec.get("embedder"):
        index_stage.link_tree(out / spec["embedder"], dev_dir / spec["embedder"])
    index_stage.build(cfg.index, docs, dev_dir, progress, scratch / "dev-embeddings", seed=cfg.seed, learned=spec)
    retriever = Retriever(dev_dir, mode="hybrid")
    questions = sorted(dev)
    relevant = [dev[q] for q in questions]
    doc_of = retriever.doc_of
    depth = min(FUSION_DEPTH, len(retriever))  # the lists as deep as queries will fuse them
    dense = retriever.dense(questions, depth)
    lexical = retriever.bm25_index.search(questions, depth)
    fusion, tried_fusion = choose_fusion(dense, lexical, relevant, doc_of)
    rows = {"dense": dense, "bm25": lexical,
            "rrf": [rrf([[i for i, _ in d], [i for i, _ in b]], cfg.index.rrf_k) for d, b in zip(dense, lexical)],
            "hybrid": [fusion.fuse(d, b) for d, b in zip(dense, lexical)]}
    choices: dict = {"fusion": fusion.to_dict(), "rerank": None}
    tried: dict = {"fusion": tried_fusion}
    choice = None
    if spec.get("reranker"):
        model = load_reranker(out / spec["reranker"])
        rerank_depth = cfg.retriever.rerank_depth
        logits = [rerank_logits(model, q, [retriever.passage(i) for i, _ in row[:rerank_depth]])
                  for q, row in zip(progress(questions, desc="rerank dev questions", unit="question"), rows["hybrid"])]
        choice, tried["rerank"] = choose_rerank(rows["hybrid"], logits, relevant, doc_of, cfg.retriever.rerank_min_gain)
        choices["rerank"] = choice.to_dict()
        rows["rerank"] = [choice.combine(f, z) for f, z in zip(rows["hybrid"], logits)]
    choices["relevance"] = {m: calibrate(r, relevant, doc_of).to_dict() for m, r in rows.items() if m != "rrf"}
    best = "rerank" if choice is not None and choice.reranks else "hybrid"  # what `auto` searches
    top = Calibration.from_dict(choices["relevance"][best])
    tops = np.array([top.probability(r[0][1]) if r else 0.0 for r in rows[best]])
    choices["min_relevance"] = round(answering_threshold(tops, cfg.index.gate_answered), 4)
    metrics: dict = {}
    for mode, mode_rows in rows.items():
        found = summarize([judge(doc_order(r, doc_of), rel, KS) for r, rel in zip(mode_rows, relevant)])
        metrics.update({f"dev_{mode}_{k}": round(v, 4) for k, v in found.items() if k != "questions"})
    return choices, tried, metrics


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    from rungs.retrieval import LEARNED_FILE

    from stages import index as index_stage

    _check(cfg)
    r = cfg.retriever
    out, scratch = Path(out), Path(scratch)
    docs = index_stage.read_documents(Path(inputs["corpus"].path))
    splits = question_splits(r, docs)
    if not splits["train"] or not splits["dev"]:
        raise InputError(resolve_path(r.pairs[0]), f"{len(splits['train'])} train and {len(splits['dev'])} dev questions "
                         "after the split by condition: both are needed (more pairs, or a larger dev_conditions)")
    rng = random.Random(cfg.seed)
    train, dev = sample_questions(r, splits, rng)

    train_ids = sorted({d for _, rel in splits["train"].items() for d in rel})
    work = scratch / "work"
    work.mkdir(parents=True, exist_ok=True)
    passages = Passages(cfg.index, docs, train_ids, work)
    questions = [q for q, _ in train]
    positives = [sorted(rel)[rng.randrange(len(rel))] for _, rel in train]
    most = max(r.hard_negatives, r.reranker_negatives)
    negatives = passages.negatives(questions, [rel for _, rel in train], most, rng)

    spec = {"base_embedder": cfg.index.embedder, "embedder": None, "reranker": None, "title_prefix": cfg.index.title_prefix}
    metrics: dict = {"pairs_train": len(train), "questions_train": len(splits["train"]), "questions_dev": len(dev),
                     "questions_test_untouched": len(splits["test"])}
    began = time.perf_counter()
    if r.embedder_epochs > 0:
        hard = [n[: r.hard_negatives] for n in negatives]
        metrics["embedder_hard_negatives"] = finetune_embedder(cfg, questions, positives, hard, passages, out, work)
        spec["embedder"] = EMBEDDER_DIR
    metrics["embedder_train_seconds"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    if r.reranker_epochs > 0:
        negs = [n[: r.reranker_negatives] for n in negatives]
        metrics["reranker_examples"] = train_reranker(cfg, questions, positives, negs, passages, out, work)
        spec["reranker"] = RERANKER_DIR
    metrics["reranker_train_seconds"] = round(time.perf_counter() - began, 1)

    dev_docs = dev_documents(r, docs)
    choices, tried, dev_metrics = tune(cfg, dev_docs, dev, out, spec, progress, scratch)
    spec.update(choices)
    (out / LEARNED_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    (out / TUNING_FILE).write_text(json.dumps(tried, indent=2) + "\n")
    fusion, rerank = choices["fusion"], choices.get("rerank") or {}
    return {**metrics, "dev_documents": len(dev_docs["id"]), **dev_metrics,
            "fusion": ", ".join(f"{k}={v}" for k, v in fusion.items()),
            "rerank_depth": rerank.get("depth", 0), "rerank_weight": rerank.get("weight", 0.0),
            "min_relevance": choices["min_relevance"]}
