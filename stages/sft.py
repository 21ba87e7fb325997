"""sft: LoRA instruction tuning in the model's chat template, loss on assistant tokens only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rungs.chat import is_heldout, read_conversations, tokenize_all
from rungs.config import resolve_path
from rungs.distributed import is_main
from rungs.errors import InputError
from rungs.models import (
    ADAPTER_DIR,
    host_rebuild,
    load_tokenizer,
    setup_torch,
    trainable_model,
)
from rungs.plots import write_training_report
from rungs.training import train

VERSION = 3  # 3: dialogue rows de-identified (sft.deidentify); 2: batches bucketed by length
INPUTS = {"model": ("cpt", "base")}  # the full pipeline tunes the cpt model, pipeline=sft the base model
OPTIONAL = frozenset()
CONFIG = ("seed", "hardware", "sft")
HELDOUT = "heldout.jsonl"  # the held-out conversations, for evaluate's answer NLL


def sources(cfg) -> list[Path]:
    return [resolve_path(p) for p in cfg.sft.data]


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    setup_torch(cfg.hardware, cfg.seed)
    s = cfg.sft
    phi = Counter()  # identifier kinds scrubbed from the instruction data, for the manifest
    conversations = list(read_conversations(sources(cfg), s, phi))
    if not conversations:
        raise InputError(", ".join(s.data), "no instruction records found")
    heldout = [c for c in conversations if is_heldout(c, cfg.seed, s.heldout_fraction)]
    train_set = [c for c in conversations if not is_heldout(c, cfg.seed, s.heldout_fraction)]
    tokenizer = load_tokenizer(inputs["model"])
    examples = tokenize_all(tokenizer, train_set, s.max_len)
    eval_examples = tokenize_all(tokenizer, heldout, s.max_len)[: s.eval_examples]
    model = trainable_model(inputs["model"], cfg.hardware, s, lora=True)
    result = train(
        model, examples, s, seed=cfg.seed, pad_id=tokenizer.pad_token_id, scratch=scratch, progress=progress, desc="sft", eval_examples=eval_examples,
        optimizer_kind=cfg.hardware.optimizer, strategy=cfg.hardware.strategy, rebuild=host_rebuild(inputs["model"], cfg.hardware, s, lora=True),
    )
    if not is_main():
        return {}  # under torchrun, rank 0 alone writes the artifact
    model = result.model  # under FSDP an unsharded copy
    model.save_pretrained(out / ADAPTER_DIR)
    (out / HELDOUT).write_text("".join(json.dumps({"messages": c}) + "\n" for c in heldout))
    write_training_report(out, result.history, "sft (LoRA): answer tokens")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {**result.metrics(), "examples": len(examples), "heldout_conversations": len(heldout), "trainable_parameters": trainable,
            "phi_scrubbed": dict(sorted(phi.items()))}
