"""cpt: continued pretraining, causal-LM loss on the corpus' packed token blocks."""

from __future__ import annotations

from pathlib import Path

from rungs.curation import load_blocks

VERSION = 2  # 2: <bos>-led packed documents apart (position ids), token-weighted loss over the step
CONFIG = ("seed", "hardware", "cpt")


def sources(cfg) -> list[Path]:
    return []


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    # torch and transformers load here, not at import: rungs.pipeline imports this module to fingerprint it
    from rungs.train import (
        host_rebuild, is_main, merged, model_tokenizer, save_model, setup_torch, train, trainable_model, write_training_report,
    )

    setup_torch(cfg.hardware, cfg.seed)
    tokenizer = model_tokenizer(inputs["base"])
    lora = cfg.cpt.method == "lora"
    model = trainable_model(inputs["base"], cfg.hardware, cfg.cpt, lora=lora)
    blocks = load_blocks(inputs["corpus"], "train") + load_blocks(inputs["corpus"], "replay")  # domain + general replay
    heldout = load_blocks(inputs["corpus"], "heldout")[: cfg.cpt.eval_examples]
    result = train(
        model, blocks, cfg.cpt, seed=cfg.seed, pad_id=tokenizer.pad_token_id, bos_id=tokenizer.bos_token_id, scratch=scratch, progress=progress, desc="cpt", eval_examples=heldout,
        optimizer_kind=cfg.hardware.optimizer, strategy=cfg.hardware.strategy, rebuild=host_rebuild(inputs["base"], cfg.hardware, cfg.cpt, lora=lora),
    )
    if not is_main():
        return {}  # under torchrun, rank 0 alone writes the artifact
    model = result.model  # under FSDP an unsharded copy
    if lora:
        model = merged(model, inputs["base"], cfg.hardware, scratch)  # downstream stages get plain full weights
    save_model(model, tokenizer, out)
    write_training_report(out, result.history, f"cpt ({cfg.cpt.method}): domain text")
    return {**result.metrics(), "blocks": len(blocks), "method": cfg.cpt.method}
