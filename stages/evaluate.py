"""evaluate: held-out perplexity of each rung (base, cpt, cpt+sft) and retrieval recall@k / MRR."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rungs.config import resolve_path
from rungs.data import iter_documents, normalize_text
from rungs.errors import InputError
from rungs.models import adapter_dir, load_model, load_tokenizer, load_with_adapter, setup_torch
from rungs.packing import pack
from rungs.training import mean_loss
from stages.cpt import load_blocks

VERSION = 1
INPUTS = {"corpus": ("corpus",), "base": ("base",), "cpt": ("cpt",), "sft": ("sft",), "index": ("index",)}
OPTIONAL = frozenset({"base", "cpt", "sft", "index"})  # each pipeline builds a different subset of rungs
CONFIG = ("seed", "hardware", "evaluate")


def sources(cfg) -> list[Path]:
    e = cfg.evaluate
    return [resolve_path(p) for p in (e.text, e.questions) if p]


def heldout_blocks(cfg, inputs, tokenizer) -> list[dict]:
    """evaluate.text packed like the corpus, else the corpus' own held-out blocks; capped at max_blocks."""
    corpus_blocks = load_blocks(inputs["corpus"], "heldout")
    if cfg.evaluate.text:
        path = resolve_path(cfg.evaluate.text)
        docs = iter_documents([str(path)], text_field=cfg.evaluate.text_field, id_field="id", title_field="title", url_field="url")
        block_size = len(corpus_blocks[0]["input_ids"]) if corpus_blocks else 128
        blocks = [{"input_ids": b} for b in pack((normalize_text(d.text) for d in docs), tokenizer, block_size)]
        if not blocks:
            raise InputError(path, f"too little text for one block of {block_size} tokens")
    else:
        blocks = corpus_blocks
    return blocks[: cfg.evaluate.max_blocks]


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    setup_torch(cfg.hardware, cfg.seed)
    metrics: dict = {}
    trunk = inputs.get("cpt") or inputs.get("base")  # the model an sft adapter was trained on
    if trunk is not None:
        tokenizer = load_tokenizer(trunk)
        blocks = heldout_blocks(cfg, inputs, tokenizer)
        models = {"base": lambda: load_model(inputs["base"], cfg.hardware)} if "base" in inputs else {}
        if "cpt" in inputs:
            models["cpt"] = lambda: load_model(inputs["cpt"], cfg.hardware)
        if "sft" in inputs:
            models["sft"] = lambda: load_with_adapter(trunk, adapter_dir(inputs["sft"]), cfg.hardware)
        for name, load in progress(list(models.items()), desc="perplexity"):
            loss = mean_loss(load(), blocks, pad_id=tokenizer.pad_token_id, batch_size=cfg.evaluate.batch_size)
            metrics[f"loss_{name}"] = round(loss, 4)
            metrics[f"ppl_{name}"] = round(math.exp(loss), 3)
        metrics["heldout_blocks"] = len(blocks)
    if "index" in inputs and cfg.evaluate.questions:
        from rungs.rag import Retriever, load_questions, retrieval_metrics

        questions, relevant = load_questions(resolve_path(cfg.evaluate.questions), cfg.evaluate.question_field, cfg.evaluate.relevant_field)
        found = retrieval_metrics(Retriever(inputs["index"].path), questions, relevant, ks=tuple(cfg.evaluate.ks))
        metrics.update({f"retrieval_{k}": v for k, v in found.items()})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics
