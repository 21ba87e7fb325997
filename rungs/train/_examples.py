"""Training examples from conversations: token ids with loss on the assistant's answers only."""

from __future__ import annotations

from collections.abc import Iterable

from ._training import IGNORE_INDEX


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


def tokenize_all(tokenizer, conversations: Iterable[list[dict]], max_len: int) -> list[dict]:
    """Tokenized samples that keep at least one answer token after truncation."""
    samples = (tokenize_conversation(tokenizer, m, max_len) for m in conversations)
    return [s for s in samples if any(t != IGNORE_INDEX for t in s["labels"])]
