"""cpt: continued pretraining, causal-LM loss on the corpus' packed token blocks."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from rungs.models import add_lora, load_model, load_tokenizer, save_model, setup_torch
from rungs.plots import write_training_report
from rungs.training import train

VERSION = 1
INPUTS = {"base": ("base",), "corpus": ("corpus",)}
OPTIONAL = frozenset()
CONFIG = ("seed", "hardware", "cpt")


def sources(cfg) -> list[Path]:
    return []


def load_blocks(corpus_artifact, split: str) -> list[dict]:
    path = Path(corpus_artifact.path) / "blocks" / f"{split}.parquet"
    return [{"input_ids": ids} for ids in pq.read_table(path, columns=["input_ids"]).column("input_ids").to_pylist()]


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    setup_torch(cfg.hardware, cfg.seed)
    tokenizer = load_tokenizer(inputs["base"])
    model = load_model(inputs["base"], cfg.hardware)
    if cfg.cpt.method == "lora":
        model = add_lora(model, cfg.cpt)
    blocks = load_blocks(inputs["corpus"], "train")
    heldout = load_blocks(inputs["corpus"], "heldout")[: cfg.cpt.eval_examples]
    result = train(
        model, blocks, cfg.cpt, seed=cfg.seed, pad_id=tokenizer.pad_token_id, scratch=scratch, progress=progress, desc="cpt", eval_examples=heldout
    )
    if cfg.cpt.method == "lora":
        model = model.merge_and_unload()  # downstream stages get plain full weights
    save_model(model, tokenizer, out)
    write_training_report(out, result.history, f"cpt ({cfg.cpt.method}): domain text")
    return {**result.metrics(), "blocks": len(blocks), "method": cfg.cpt.method}
