"""sft: LoRA instruction tuning in the model's chat template, loss on assistant tokens only."""

from __future__ import annotations

from pathlib import Path

from rungs.data import read_jsonl
from rungs.errors import InputError
from rungs.models import ADAPTER_DIR, add_lora, load_model, load_tokenizer, setup_torch
from rungs.plots import write_training_report
from rungs.training import IGNORE_INDEX, train

VERSION = 1
INPUTS = {"model": ("cpt", "base")}  # the full pipeline tunes the cpt model, pipeline=sft the base model
OPTIONAL = frozenset()
CONFIG = ("seed", "hardware", "sft")
ROLES = ("system", "user", "assistant")


def sources(cfg) -> list[Path]:
    from rungs.config import resolve_path

    return [resolve_path(p) for p in cfg.sft.data]


def read_conversations(cfg) -> list[list[dict]]:
    """Chat records from every sft.data file: messages rows or question/answer rows."""
    s = cfg.sft
    conversations = []
    for path in sources(cfg):
        for line, row in read_jsonl(path):
            if s.messages_field in row:
                messages = row[s.messages_field]
                if not isinstance(messages, list) or not all(
                    isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
                ):
                    raise InputError(path, f"field {s.messages_field!r}: expected a list of {{role, content}} with role in {ROLES}", line)
            elif isinstance(row.get(s.question_field), str) and isinstance(row.get(s.answer_field), str):
                messages = [{"role": "user", "content": row[s.question_field]}, {"role": "assistant", "content": row[s.answer_field]}]
            else:
                raise InputError(
                    path,
                    f"expected string fields {s.question_field!r} and {s.answer_field!r} (or a {s.messages_field!r} list); "
                    f"found fields {sorted(row)}",
                    line,
                )
            if not any(m["role"] == "assistant" for m in messages):
                raise InputError(path, "conversation has no assistant turn to learn from", line)
            if s.system_prompt and messages[0]["role"] != "system":
                messages = [{"role": "system", "content": s.system_prompt}, *messages]
            conversations.append(messages)
    if not conversations:
        raise InputError(", ".join(map(str, sources(cfg))), "no instruction records found")
    return conversations


def tokenize_conversation(tokenizer, messages: list[dict], max_len: int) -> dict:
    """input_ids and labels where only the assistant turns (and their end-of-turn) carry loss.

    The chat template renders prefix-consistently, so each turn's text is the difference between
    renderings of successive prefixes; the same code serves single Q/A pairs and multi-turn dialogues.
    """
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        head = tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages[: k + 1], tokenize=False)
        prompt_ids = tokenizer(head[len(rendered) :], add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(full[len(head) :], add_special_tokens=False)["input_ids"]
        ids += prompt_ids + answer_ids
        labels += [IGNORE_INDEX] * len(prompt_ids) + answer_ids
        rendered = full
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    setup_torch(cfg.hardware, cfg.seed)
    tokenizer = load_tokenizer(inputs["model"])
    examples = [tokenize_conversation(tokenizer, m, cfg.sft.max_len) for m in read_conversations(cfg)]
    examples = [e for e in examples if any(t != IGNORE_INDEX for t in e["labels"])]
    model = add_lora(load_model(inputs["model"], cfg.hardware), cfg.sft)
    result = train(model, examples, cfg.sft, seed=cfg.seed, pad_id=tokenizer.pad_token_id, scratch=scratch, progress=progress, desc="sft")
    model.save_pretrained(out / ADAPTER_DIR)
    write_training_report(out, result.history, "sft (LoRA) answer-token loss")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {**result.metrics(), "examples": len(examples), "trainable_parameters": trainable}
