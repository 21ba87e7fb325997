"""Conversations for instruction tuning: rows of any supported shape -> role/content turns, and the
held-out split by source document.

Three row shapes are read (first match wins): a `messages` list of {role, content}; a `dialogue` text of
`Speaker: words` lines (MTS-Dialog); a question/answer pair (MedQuAD, the sample pairs). The sft stage
trains on these turns (rungs.train tokenizes them); the corpus stage reads the same rows to keep the
held-out answers out of pretraining text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from rungs.kernel import InputError, SftConfig

from ._formats import read_jsonl
from ._phi import scrub

ROLES = ("system", "user", "assistant")
_SPEAKER = re.compile(r"^\s*([A-Za-z][\w ]{0,30}?)\s*:\s*(.*)$")


def parse_dialogue(text: str, assistant_speakers: Iterable[str]) -> list[dict]:
    """`Doctor: ...` / `Patient: ...` lines → turns; the assistant speaks for the listed speakers.

    Consecutive lines of the same role merge into one turn (two clinicians, or a line break mid-turn).
    """
    assistant = {s.lower() for s in assistant_speakers}
    turns: list[dict] = []
    for line in text.splitlines():
        match = _SPEAKER.match(line)
        if match:
            role = "assistant" if match.group(1).strip().lower() in assistant else "user"
            content = match.group(2).strip()
        elif turns and line.strip():
            role, content = turns[-1]["role"], line.strip()
        else:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = f"{turns[-1]['content']} {content}".strip()
        else:
            turns.append({"role": role, "content": content})
    return [t for t in turns if t["content"]]


def conversation(row: dict, s: SftConfig, path: Path, line: int) -> list[dict]:
    """One row as chat turns, or an InputError naming the file, the line and the shapes expected."""
    if s.messages_field in row:
        messages = row[s.messages_field]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
        ):
            raise InputError(path, f"field {s.messages_field!r}: expected a list of {{role, content}} with role in {ROLES}", line)
    elif isinstance(row.get(s.dialogue_field), str):
        messages = parse_dialogue(row[s.dialogue_field], s.assistant_speakers)
    elif isinstance(row.get(s.question_field), str) and isinstance(row.get(s.answer_field), str):
        messages = [{"role": "user", "content": row[s.question_field]}, {"role": "assistant", "content": row[s.answer_field]}]
    else:
        raise InputError(
            path,
            f"expected string fields {s.question_field!r} and {s.answer_field!r}, a {s.dialogue_field!r} text or a "
            f"{s.messages_field!r} list; found fields {sorted(row)}",
            line,
        )
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise InputError(path, "conversation has no assistant turn to learn from", line)
    if s.system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": s.system_prompt}, *messages]
    return messages


def scrub_messages(messages: list[dict], scrub, counter: Counter | None = None) -> list[dict]:
    """Every turn de-identified by `scrub` (the PHI scrubber); `counter` tallies the identifier kinds found."""
    cleaned = []
    for m in messages:
        result = scrub(m["content"])
        if counter is not None:
            counter.update(span.kind for span in result.spans)
        cleaned.append({"role": m["role"], "content": result.text})
    return cleaned


def needs_deidentification(row: dict, s: SftConfig) -> bool:
    """sft.deidentify: `dialogues` (default) scrubs rows in the dialogue shape, transcripts of real
    consultations such as MTS-Dialog; `all` scrubs every row; `none` trusts the data."""
    return s.deidentify == "all" or (s.deidentify == "dialogues" and s.messages_field not in row and isinstance(row.get(s.dialogue_field), str))


def training_conversation(row: dict, s: SftConfig, path: Path, line: int, counter: Counter | None = None) -> list[dict]:
    """One row as the sft stage trains on it: `conversation`, de-identified where sft.deidentify asks.
    The corpus stage's decontamination reads rows through this too, so both see the same held-out split."""
    messages = conversation(row, s, path, line)
    if not needs_deidentification(row, s):
        return messages
    return scrub_messages(messages, scrub, counter)


def read_conversations(paths: Iterable[Path], s: SftConfig, counter: Counter | None = None) -> Iterator[list[dict]]:
    for messages, _ in read_records(paths, s, counter):
        yield messages


def source_of(row: dict, s: SftConfig) -> str | None:
    """The source document a row was written from: the first of sft.source_fields the row has, else None."""
    for name in s.source_fields:
        value = row.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def read_records(paths: Iterable[Path], s: SftConfig, counter: Counter | None = None) -> Iterator[tuple[list[dict], str | None]]:
    """(conversation, source document or None) per row, in file order."""
    for path in paths:
        for line, row in read_jsonl(path):
            yield training_conversation(row, s, path, line, counter), source_of(row, s)


def is_heldout(messages: list[dict], seed: int, fraction: float, source: str | None = None) -> bool:
    """A stable split keyed by the source document when known, else by content: every conversation written
    from one document lands on the same side, so held-out answers measure documents training never saw."""
    key = source if source is not None else json.dumps(messages, sort_keys=True)
    digest = hashlib.sha256(f"{seed}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_records(records: Iterable[tuple[list[dict], str | None]], seed: int, fraction: float):
    """(train conversations, held-out conversations, the held-out source documents)."""
    train, heldout, sources = [], [], set()
    for messages, source in records:
        if is_heldout(messages, seed, fraction, source):
            heldout.append(messages)
            if source is not None:
                sources.add(source)
        else:
            train.append(messages)
    return train, heldout, sources
