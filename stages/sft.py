"""sft: LoRA instruction tuning in the model's chat template, loss on assistant tokens only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rungs.curation import read_records, split_records
from rungs.kernel import InputError, resolve_path

VERSION = 4  # 4: grounded examples (sources in the prompt, cited answers), held out by source document, token-weighted loss; 3: dialogue rows de-identified (sft.deidentify); 2: batches bucketed by length
# the prompt keys that shape a grounded example: the assistant's system prompt, how it retrieves, what counts as support
CONFIG = ("seed", "hardware", "sft", "prompt.system", "prompt.top_k", "prompt.retrieval_mode", "prompt.support")
HELDOUT = "heldout.jsonl"  # the held-out conversations, for evaluate's answer NLL


def sources(cfg) -> list[Path]:
    return [resolve_path(p) for p in cfg.sft.data]


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    # torch and transformers load here, not at import: rungs.pipeline imports this module to fingerprint it
    from rungs.train import (
        ADAPTER_DIR, host_rebuild, is_main, model_tokenizer, setup_torch, tokenize_all, train, trainable_model,
        write_training_report,
    )

    setup_torch(cfg.hardware, cfg.seed)
    s = cfg.sft
    phi = Counter()  # identifier kinds scrubbed from the instruction data, for the manifest
    records = list(read_records(sources(cfg), s, phi))
    if not records:
        raise InputError(", ".join(s.data), "no instruction records found")
    train_set, heldout, heldout_sources = split_records(records, cfg.seed, s.heldout_fraction)
    grounded = s.grounded and "index" in inputs
    if grounded:  # train on exactly what the assistant sends: the question's sources, answers citing them
        train_set, heldout = _grounded(cfg, inputs["index"], train_set), _grounded(cfg, inputs["index"], heldout)
    tokenizer = model_tokenizer(inputs["model"])
    examples = tokenize_all(tokenizer, train_set, s.max_len)
    eval_examples = tokenize_all(tokenizer, heldout, s.max_len)[: s.eval_examples]
    model = trainable_model(inputs["model"], cfg.hardware, s, lora=True)
    result = train(
        model, examples, s, seed=cfg.seed, pad_id=tokenizer.pad_token_id, bos_id=tokenizer.bos_token_id, scratch=scratch, progress=progress, desc="sft", eval_examples=eval_examples,
        optimizer_kind=cfg.hardware.optimizer, strategy=cfg.hardware.strategy, rebuild=host_rebuild(inputs["model"], cfg.hardware, s, lora=True),
    )
    if not is_main():
        return {}  # under torchrun, rank 0 alone writes the artifact
    model = result.model  # under FSDP an unsharded copy
    model.save_pretrained(out / ADAPTER_DIR)
    (out / HELDOUT).write_text("".join(json.dumps({"messages": c}) + "\n" for c in heldout))
    write_training_report(out, result.history, "sft (LoRA): answer tokens")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {**result.metrics(), "examples": len(examples), "heldout_conversations": len(heldout),
            "heldout_sources": len(heldout_sources), "grounded": grounded, "trainable_parameters": trainable,
            "phi_scrubbed": dict(sorted(phi.items()))}


def _grounded(cfg, index, conversations: list[list[dict]]) -> list[list[dict]]:
    from rungs.assistant import grounded_conversation
    from rungs.retrieval import Retriever

    p = cfg.prompt
    retriever = Retriever(Path(index.path), mode=p.retrieval_mode)
    return [grounded_conversation(retriever, p.retrieval_mode, p.system, p.top_k, p.support, c) for c in conversations]
