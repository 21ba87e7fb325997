"""One reply of the assistant: text pieces streamed as they are produced, its citations, and its kind
(`answer`, `red_flag`, `dont_know`); cancellable from any thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ._grounding import Citation

KINDS = ("answer", "red_flag", "dont_know")


class Reply:
    """One answer: iterate for text pieces as they are produced (once); `text()` drains and joins them."""

    def __init__(self, kind: str, pieces: Iterator[str], citations: list[Citation], *, red_flag: str | None = None):
        self.kind = kind
        self.citations = citations
        self.red_flag = red_flag
        self.finish_reason = "stop"
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.model_text = ""  # what the model itself said (no disclaimer or sources), for conversation history
        self.first_token_at: float | None = None  # perf_counter() when the model's first text arrived
        self._pieces = pieces
        self._parts: list[str] = []
        self._done = False
        self.cancelled = threading.Event()  # set from any thread: the model stops at its next token

    def __iter__(self) -> Iterator[str]:
        if self._done:
            yield from ()
            return
        try:
            for piece in self._pieces:
                if piece:
                    self._parts.append(piece)
                    yield piece
        finally:
            self._done = True

    def cancel(self) -> None:
        """Stop the generation soon, from any thread (the reader went away); the pieces then end."""
        self.cancelled.set()

    def close(self) -> None:
        """Stop now, from the thread that iterates: the generation ends and releases the model."""
        self.cancelled.set()
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()
        self._done = True

    def text(self) -> str:
        for _ in self:
            pass
        return "".join(self._parts)

    @property
    def history_text(self) -> str:
        """What to keep of this reply in the conversation: the model's words, or the fixed message."""
        return self.model_text if self.kind == "answer" else "".join(self._parts)


def fixed_reply(kind: str, text: str, **kwargs) -> Reply:
    """A reply the model has no part in: an escalation, a don't-know, an error."""
    return Reply(kind, iter([text]), [], **kwargs)
