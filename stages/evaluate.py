"""evaluate: what each rung did, measured on text and questions that no training split contains.

- **Perplexity** per document, each from its own `<bos>` (rungs.train), token-weighted, with a
  bootstrap 95 % interval over documents, on four sets: the corpus' held-out documents (`domain`), the
  held-out part of its general replay text (`general`), and independent files (`evaluate.perplexity.sets`,
  by default NIH patient education on held-out conditions and WikiText) from which every document
  sharing a condition or a text with the training data is removed first.
- **Answer NLL** of the sft stage's held-out conversations, whose source documents sft never saw.
- **Retrieval** recall@k / MRR per mode (dense, BM25, hybrid).
- **Triage**: the release's emergency detector's blind-test recall and false alarms, copied for the gate.
- **Answers** end to end: each rung's assistant (base = the rag rung, sft) answers held-out questions
  through the real path (guardrails, retrieval, prompt, model), scored by rungs.assistant.

Files: `metrics.json`, `report.md` (tables with intervals and sample answers), `answers.jsonl` (every
answer and its scores), `rungs.png`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rungs.curation import (
    Conditions,
    Decontaminator,
    condition_words,
    heldout_condition,
    iter_documents,
    normalize_text,
    normalize_words,
    read_conversations,
)
from rungs.kernel import SftConfig, metric_entries, resolve_path

# torch, transformers and the assistant's model load inside the functions that score: rungs.pipeline imports
# this module to fingerprint it

VERSION = 7  # 7: the corpus' own held-out sets sampled (own_tokens); 6: independent sets leave out documents repeating >= 10 % of training 13-grams; 5: with short texts; 4: per-document perplexity with intervals, independent sets, end-to-end answers; 3: retrieval per mode
CONFIG = ("seed", "hardware", "evaluate", "prompt",  # prompt: the answers go through the assistant
          "corpus.decontam_ngram", "corpus.decontam_threshold")  # what counts as text seen in training
HELDOUT_CONVERSATIONS = "heldout.jsonl"  # written by the sft stage
_KEY_WORDS = 40  # words that identify a text when checking an independent set against training text


def sources(cfg) -> list[Path]:
    e = cfg.evaluate
    paths = [e.questions, *e.answers.paths, *(s.path for s in e.perplexity.sets.values())]
    return [resolve_path(p) for p in paths if p and resolve_path(p).exists()]


def _text_key(text: str) -> str:
    return " ".join(normalize_words(text)[:_KEY_WORDS])


def _corpus_documents(corpus) -> tuple[list[dict], list[dict]]:
    import pyarrow.parquet as pq

    root = Path(corpus.path)
    domain = pq.read_table(root / "documents.parquet", columns=["id", "title", "text", "split"]).to_pylist()
    general = root / "general.parquet"
    return domain, (pq.read_table(general).to_pylist() if general.exists() else [])


def text_sets(cfg, corpus, tokenizer) -> tuple[dict[str, list[tuple[str, list[int]]]], dict[str, str]]:
    """{set name: [(document id, token ids)]} and a note for each configured set that was skipped or trimmed."""
    from rungs.train import select

    p = cfg.evaluate.perplexity
    domain, general = _corpus_documents(corpus)
    raw = {"domain": [(d["id"], d["text"]) for d in domain if d["split"] == "heldout"],
           "general": [(d["id"], d["text"]) for d in general if d["split"] == "heldout"]}
    # only the train split is trained on: a corpus keeps held-out-condition and contaminated pages as "excluded"
    trained = {"domain": {_text_key(d["text"]) for d in domain if d["split"] == "train"},
               "general": {_text_key(d["text"]) for d in general if d["split"] == "train"}}
    conditions = Conditions(condition_words(d["title"]) for d in domain if d["split"] != "excluded")
    # A page on an unseen condition can still repeat training text: MedQuAD's NIH answers share templates
    # across conditions, and a model that learned them looks like one that learned medicine. The corpus
    # stage's own decontamination rule decides what counts as seen.
    c = cfg.corpus
    # min_words=n: a short training text repeated whole (one templated sentence) is not a repeated page
    seen = {kind: Decontaminator((d["text"] for d in docs if d["split"] == "train"), n=c.decontam_ngram,
                                 threshold=c.decontam_threshold, min_words=c.decontam_ngram)
            for kind, docs in (("domain", domain), ("general", general))}
    notes: dict[str, str] = {}
    for name, spec in p.sets.items():
        path = resolve_path(spec.path)
        if not path.exists():
            notes[name] = f"skipped: {spec.path} not found"
            continue
        kept, shared = [], 0
        docs = iter_documents([path], text_field=spec.text_field, id_field=spec.id_field,
                              title_field=spec.condition_field or "title")
        for doc in docs:
            if spec.heldout_conditions > 0:
                words = condition_words(doc.title)
                if not heldout_condition(doc.title, spec.heldout_conditions):
                    continue
                if conditions.covers(words):
                    shared += 1  # the corpus covers this condition: not independent of training
                    continue
            text = normalize_text(doc.text)
            if _text_key(text) in trained[spec.kind] or seen[spec.kind].contaminated(text):
                shared += 1
                continue
            kept.append((doc.id, text))
        raw[name] = kept
        if shared:
            notes[name] = (f"{shared} document(s) left out: their condition is trained on, or >= {c.decontam_threshold:.0%} "
                           f"of their {c.decontam_ngram}-word sequences are in the training text")
    sets = {}
    for name, docs in raw.items():
        tokenized = [(i, tokenizer(t, add_special_tokens=False)["input_ids"]) for i, t in docs]
        # the corpus' own held-out split too: with MedQuAD in the corpus it holds ~1,300 pages, 30 min a model
        sets[name] = select(tokenized, p.min_tokens if name in p.sets else p.own_tokens, cfg.seed)
    return {n: d for n, d in sets.items() if d}, notes


def answer_samples(cfg, inputs, tokenizer) -> list[dict]:
    """The sft stage's held-out conversations, labels on assistant tokens only."""
    if "sft" not in inputs:
        return []
    path = Path(inputs["sft"].path) / HELDOUT_CONVERSATIONS
    if not path.exists():
        return []
    from rungs.train import tokenize_all

    return tokenize_all(tokenizer, read_conversations([path], SftConfig()), max_len=cfg.evaluate.answer_max_len)


def _score_models(cfg, inputs, progress, metrics: dict, report: list[str]) -> None:
    from rungs.train import adapter_dir, load_model, load_with_adapter, mean_loss, model_tokenizer, perplexity, score_documents

    e = cfg.evaluate
    trunk = inputs.get("cpt") or inputs.get("base")  # the model an sft adapter was trained on
    if trunk is None:
        return
    tokenizer = model_tokenizer(trunk)
    sets, notes = text_sets(cfg, inputs["corpus"], tokenizer)
    answers = answer_samples(cfg, inputs, tokenizer)
    # NF4 where the hardware profile quantises (a 27B in bf16 would not fit a 24 GB card)
    loaders = {"base": lambda: load_model(inputs["base"], cfg.hardware, quantize=True),
               "cpt": lambda: load_model(inputs["cpt"], cfg.hardware, quantize=True),
               "sft": lambda: load_with_adapter(trunk, adapter_dir(inputs["sft"]), cfg.hardware, quantize=True)}
    rungs = [r for r in loaders if r in inputs]
    for name, docs in sets.items():
        metrics[f"{name}_documents"] = len(docs)
    for rung in rungs:
        scored = rung in e.perplexity.rungs
        if not scored and not answers:
            continue
        model = loaders[rung]()
        if scored:
            for name, docs in sets.items():
                scores = score_documents(model, docs, bos_id=tokenizer.bos_token_id, pad_id=tokenizer.pad_token_id,
                                         window=e.perplexity.window, stride=e.perplexity.stride,
                                         batch_tokens=e.perplexity.batch_tokens, progress=progress)
                entry = metric_entries(f"{name}_ppl_{rung}", perplexity(scores, cfg.seed), len(scores), digits=3)
                del entry[f"{name}_ppl_{rung}_n"]
                metrics.update(entry)
                metrics[f"{name}_tokens"] = sum(s.tokens for s in scores)
        if answers:
            metrics[f"answer_nll_{rung}"] = round(mean_loss(model, answers, pad_id=tokenizer.pad_token_id,
                                                            bos_id=tokenizer.bos_token_id, batch_size=e.batch_size), 4)
        del model
    if answers:
        metrics["answer_samples"] = len(answers)
    report += _perplexity_markdown(metrics, sets, rungs, notes)


def _perplexity_markdown(metrics: dict, sets: dict, rungs: list[str], notes: dict) -> list[str]:
    scored = [r for r in rungs if any(f"{name}_ppl_{r}" in metrics for name in sets)]
    lines = ["## Perplexity (per document, from its own <bos>; 95% bootstrap interval over documents)", "",
             "| set | documents | tokens | " + " | ".join(scored) + " |", "|---|---:|---:|" + "---:|" * len(scored)]
    for name in sets:
        cells = []
        for r in scored:
            key = f"{name}_ppl_{r}"
            cells.append(f"{metrics[key]:.2f} [{metrics[key + '_lo']:.2f}, {metrics[key + '_hi']:.2f}]" if key in metrics else "")
        lines.append(f"| {name} | {metrics.get(f'{name}_documents', 0)} | {metrics.get(f'{name}_tokens', '')} | " + " | ".join(cells) + " |")
    lines += [f"- {name}: {note}" for name, note in notes.items()]
    nll = [f"{r} {metrics[f'answer_nll_{r}']:.3f}" for r in rungs if f"answer_nll_{r}" in metrics]
    if nll:
        lines += ["", f"Answer NLL (nats/token) on {metrics['answer_samples']} held-out conversations from source "
                      f"documents sft never saw: " + ", ".join(nll)]
    return lines + [""]


def _answers(cfg, inputs, out: Path, progress, metrics: dict, report: list[str]) -> None:
    from rungs.assistant import Assistant, Refs, Scorer, load_questions, markdown, sample, summarize, write_items

    a = cfg.evaluate.answers
    questions = sample(load_questions([resolve_path(p) for p in a.paths], a), a.answered, a.others, cfg.seed)
    trunk = inputs.get("cpt") or inputs.get("base")
    triage = inputs.get("triage")
    rungs = {"base": Refs(inputs["base"], None, inputs["index"], triage)} if "base" in inputs else {}
    if "sft" in inputs:
        rungs["sft"] = Refs(trunk, inputs["sft"], inputs["index"], triage)
    scorer = None
    by_rung = {}
    for rung, refs in rungs.items():
        assistant = Assistant(refs, cfg.prompt, cfg.hardware)
        scorer = scorer or Scorer(assistant.retriever.model, cfg.prompt.support)
        replies = assistant.reply_all([q.messages for q in questions], max_new_tokens=a.max_new_tokens,
                                      batch_size=a.batch_size, progress=progress)
        items = [scorer.score(q, r) for q, r in zip(questions, replies)]
        metrics.update(summarize(items, f"answers_{rung}", cfg.seed))
        write_items(out / "answers.jsonl", rung, items)
        by_rung[rung] = items
        del assistant
    if by_rung:
        report.append(markdown(metrics, by_rung))


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    from rungs.train import rung_chart, setup_torch

    setup_torch(cfg.hardware, cfg.seed)
    metrics: dict = {}
    report = ["# What each rung did", ""]
    # each part's seconds go into the metrics: the budget of `make run` is spent here, so users see where
    clock = time.perf_counter()
    _score_models(cfg, inputs, progress, metrics, report)
    metrics["seconds_perplexity"] = round(time.perf_counter() - clock, 1)
    if "index" in inputs and cfg.evaluate.questions:
        _retrieval(cfg, inputs, metrics)
    if "index" in inputs and cfg.evaluate.answers.paths:
        clock = time.perf_counter()
        _answers(cfg, inputs, out, progress, metrics, report)
        metrics["seconds_answers"] = round(time.perf_counter() - clock, 1)
    if "triage" in inputs:  # the release's emergency detector, measured on its blind test split, for the gate
        t = inputs["triage"].metrics
        metrics.update({f"triage_{k}": t[k] for k in ("test_recall", "test_false_alarms", "test_recall_n") if k in t})
    if rung_chart(metrics, out / "rungs.png"):
        report.append("![rungs](rungs.png)\n")
    (out / "report.md").write_text("\n".join(report))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def _retrieval(cfg, inputs, metrics: dict) -> None:
    from rungs.retrieval import BM25_DIR, MODES, Retriever, load_questions, retrieval_report

    e = cfg.evaluate
    questions, relevant = load_questions(resolve_path(e.questions), e.question_field, e.relevant_field)
    index_dir = Path(inputs["index"].path)
    # an index built before BM25 existed (index VERSION 1) is scored dense only
    modes = MODES if (index_dir / BM25_DIR).is_dir() else ("dense",)
    retriever = Retriever(index_dir, mode="hybrid" if "hybrid" in modes else "dense")
    found = retrieval_report(retriever, questions, relevant, ks=tuple(e.ks), modes=modes)
    for mode, values in found.items():
        metrics.update({f"retrieval_{mode}_{k}": v for k, v in values.items() if k != "questions"})
    # unprefixed: the mode chat and serve use (hybrid), under the names earlier runs reported
    metrics.update({f"retrieval_{k}": v for k, v in found[retriever.mode].items()})

