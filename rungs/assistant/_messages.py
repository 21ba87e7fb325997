"""Client messages as the assistant reads them: the text of a message, and a well-formed conversation.

`conversation` turns OpenAI-style client messages into the turns the assistant answers; client system
messages are dropped, since the guardrails are not theirs to replace. (The emergency red flags and the
trained detector the assistant consults first live in rungs.safety.)
"""

from __future__ import annotations


def message_text(content) -> str:
    """The text of an OpenAI-style message content: a string, or a list of {type: text, text} parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return _unicode(content)
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        if any(not isinstance(p.get("text", ""), str) for p in parts):
            raise ValueError("a text part's 'text' must be a string")
        return "".join(_unicode(p.get("text", "")) for p in parts)
    raise ValueError("message content must be a string or a list of text parts")


def _unicode(text: str) -> str:
    """`text`, if it can be encoded (a lone surrogate from a JSON `\\ud800` escape cannot: no tokenizer takes it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("message content is not valid Unicode (a lone surrogate)") from None
    return text


def conversation(messages: list[dict], max_history_turns: int) -> tuple[list[dict], str]:
    """Client messages → (earlier user/assistant turns, alternating, starting with a user turn; the question).

    Client system messages are dropped: the guardrails and the grounding instructions are not theirs to
    replace. The last message must be the user's.
    """
    turns: list[dict] = []
    if not isinstance(messages, list):
        raise ValueError("messages must be a list of {role, content} objects")
    for m in messages:
        if not isinstance(m, dict):
            raise ValueError("every message must be a {role, content} object")
        role = m.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise ValueError(f"unsupported message role {role!r}; expected user, assistant or system")
        if role in ("system", "developer"):
            continue
        text = message_text(m.get("content")).strip()
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = f"{turns[-1]['content']}\n\n{text}".strip()
        else:
            turns.append({"role": role, "content": text})
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"]:
        raise ValueError("the last message must be a non-empty user message")
    question = turns.pop()["content"]
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    keep = 2 * max(0, max_history_turns)
    turns = turns[-keep:] if keep else []
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns, question
