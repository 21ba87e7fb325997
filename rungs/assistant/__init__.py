"""The assistant's core: grounded, cited answers behind guardrails, and how good they are.

- `resolve_refs`: which model, adapter, index and triage classifier answer (the refs given, else
  production, else latest);
- `conversation` (client messages -> turns); emergencies are detected by rungs.safety's `Detector`;
- grounding: numbered sources for a question, the prompt that carries them, whole sentences, and the
  `Attributor` that cites each sentence by the sources that support it;
- `Assistant.reply`: red flag (the detector), don't know (the index's fitted gate), or a streamed answer
  (`Reply`) with its citations;
- scoring end-to-end answers (citation accuracy, correctness, groundedness, degeneration).

The evaluate stage, `rungs chat` and `rungs serve` all answer through this one path. Torch, the model
and the embedder load with an `Assistant`, not with this package. Import from here, never from the
private modules.
"""

from ._assistant import MODEL_ID, Assistant, load_chat_model, load_detector, prompt_format
from ._grounding import (
    COMPLETION_STOPS,
    Attributor,
    Citation,
    cited,
    complete_sentences,
    cut_at_stops,
    ends_sentence,
    find_sources,
    grounded_conversation,
    grounded_messages,
    render,
    sentences,
    source_block,
    strip_citations,
)
from ._messages import conversation, message_text
from ._refs import Refs, resolve_refs
from ._reply import KINDS, Reply, fixed_reply
from ._scoring import (
    EXPECTS,
    Question,
    Scorer,
    cut_off,
    foreign_script,
    load_questions,
    markdown,
    repetition,
    sample,
    summarize,
    write_items,
)

__all__ = [
    "COMPLETION_STOPS", "EXPECTS", "KINDS", "MODEL_ID", "Assistant", "Attributor", "Citation", "Question",
    "Refs", "Reply", "Scorer", "cited", "complete_sentences", "conversation", "cut_at_stops", "ends_sentence",
    "cut_off", "find_sources", "fixed_reply", "foreign_script", "grounded_conversation", "grounded_messages", "load_chat_model", "load_detector", "load_questions",
    "markdown", "message_text", "prompt_format", "render", "repetition", "resolve_refs", "sample", "sentences", "source_block",
    "strip_citations", "summarize", "write_items",
]
