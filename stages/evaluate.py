"""evaluate: what each rung did — domain and general perplexity, answer NLL, retrieval recall@k / MRR.

For every model the pipeline built (base, cpt, cpt+sft): perplexity on held-out domain text (did the
rung learn the domain?), on held-out general text (did it forget English?), and the NLL of held-out
assistant answers (did instruction tuning teach the answers' voice?).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rungs.chat import read_conversations, tokenize_all
from rungs.config import resolve_path
from rungs.data import iter_documents, normalize_text
from rungs.errors import InputError
from rungs.models import (
    adapter_dir,
    load_model,
    load_tokenizer,
    load_with_adapter,
    setup_torch,
)
from rungs.packing import load_blocks, pack
from rungs.plots import rung_chart
from rungs.training import mean_loss

VERSION = 3  # 2: general perplexity, answer NLL, chart; 3: retrieval per mode (dense, bm25, hybrid)
INPUTS = {"corpus": ("corpus",), "base": ("base",), "cpt": ("cpt",), "sft": ("sft",), "index": ("index",)}
OPTIONAL = frozenset({"base", "cpt", "sft", "index"})  # each pipeline builds a different subset of rungs
CONFIG = ("seed", "hardware", "evaluate")
HELDOUT_CONVERSATIONS = "heldout.jsonl"  # written by the sft stage


def sources(cfg) -> list[Path]:
    e = cfg.evaluate
    return [resolve_path(p) for p in (e.text, e.questions) if p]


def domain_blocks(cfg, inputs, tokenizer) -> list[dict]:
    """evaluate.text packed like the corpus, else the corpus' own held-out blocks."""
    corpus_blocks = load_blocks(inputs["corpus"], "heldout")
    if not cfg.evaluate.text:
        return corpus_blocks
    path = resolve_path(cfg.evaluate.text)
    docs = iter_documents([str(path)], text_field=cfg.evaluate.text_field)
    block_size = len(corpus_blocks[0]["input_ids"]) if corpus_blocks else 128
    blocks = [{"input_ids": b} for b in pack((normalize_text(d.text) for d in docs), tokenizer, block_size)]
    if not blocks:
        raise InputError(path, f"too little text for one block of {block_size} tokens")
    return blocks


def answer_samples(cfg, inputs, tokenizer) -> list[dict]:
    """The sft stage's held-out conversations, labels on assistant tokens only."""
    if "sft" not in inputs:
        return []
    path = Path(inputs["sft"].path) / HELDOUT_CONVERSATIONS
    if not path.exists():
        return []
    from rungs.config import SftConfig

    return tokenize_all(tokenizer, read_conversations([path], SftConfig()), max_len=cfg.evaluate.answer_max_len)


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    setup_torch(cfg.hardware, cfg.seed)
    metrics: dict = {}
    trunk = inputs.get("cpt") or inputs.get("base")  # the model an sft adapter was trained on
    if trunk is not None:
        tokenizer = load_tokenizer(trunk)
        cap = cfg.evaluate.max_blocks
        sets = {
            "domain": domain_blocks(cfg, inputs, tokenizer)[:cap],
            "general": load_blocks(inputs["corpus"], "general")[:cap],
            "answer": answer_samples(cfg, inputs, tokenizer)[:cap],
        }
        sets = {name: samples for name, samples in sets.items() if samples}
        # NF4 where the hardware profile quantises (a 27B in bf16 would not fit a 24 GB card)
        models = {"base": lambda: load_model(inputs["base"], cfg.hardware, quantize=True)} if "base" in inputs else {}
        if "cpt" in inputs:
            models["cpt"] = lambda: load_model(inputs["cpt"], cfg.hardware, quantize=True)
        if "sft" in inputs:
            models["sft"] = lambda: load_with_adapter(trunk, adapter_dir(inputs["sft"]), cfg.hardware, quantize=True)
        bar = progress(total=len(models) * len(sets), desc="evaluate")
        for rung, load in models.items():
            model = load()
            for name, samples in sets.items():
                loss = mean_loss(model, samples, pad_id=tokenizer.pad_token_id, batch_size=cfg.evaluate.batch_size)
                if name == "answer":
                    metrics[f"answer_nll_{rung}"] = round(loss, 4)
                else:
                    metrics[f"{name}_ppl_{rung}"] = round(math.exp(loss), 3)
                bar.update(1)
            del model
        bar.close()
        metrics.update({f"{name}_samples": len(samples) for name, samples in sets.items()})
        rung_chart(metrics, out / "rungs.png")
    if "index" in inputs and cfg.evaluate.questions:
        from rungs.rag import (
            BM25_DIR,
            MODES,
            Retriever,
            load_questions,
            retrieval_report,
        )

        questions, relevant = load_questions(resolve_path(cfg.evaluate.questions), cfg.evaluate.question_field, cfg.evaluate.relevant_field)
        index_dir = Path(inputs["index"].path)
        # an index built before BM25 existed (index VERSION 1) is scored dense only
        modes = MODES if (index_dir / BM25_DIR).is_dir() else ("dense",)
        retriever = Retriever(index_dir, mode="hybrid" if "hybrid" in modes else "dense")
        report = retrieval_report(retriever, questions, relevant, ks=tuple(cfg.evaluate.ks), modes=modes)
        for mode, found in report.items():
            metrics.update({f"retrieval_{mode}_{k}": v for k, v in found.items() if k != "questions"})
        # unprefixed: the mode chat and serve use (hybrid), under the names earlier runs reported
        metrics.update({f"retrieval_{k}": v for k, v in report[retriever.mode].items()})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics
