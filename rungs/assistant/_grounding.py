"""Grounded answers: the prompt that numbers the sources, sentence-by-sentence shaping and citations.

Shared by the assistant (what patients get), the sft stage (which trains on exactly the prompt the
assistant sends, sources included) and the evaluation (which scores sentences the same way).

- `find_sources`: the retrieved chunks relevant to a question, grouped per document and numbered.
- `grounded_messages`: system prompt, earlier turns, then one user turn holding the numbered sources and
  the question.
- `complete_sentences`: text cut into finished sentences and a trailing remainder. The assistant streams
  whole sentences only, so an answer that hits its token limit ends at its last full stop instead of
  mid-sentence.
- `Attributor`: which numbered sources support a sentence (sentence-embedding cosine >= `support`), so
  every sentence a source supports carries its [n] even when a small model forgets to write it, and
  a number the model invents for a source it was not given is dropped.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rungs.kernel import ConfigError
from rungs.retrieval import embed

_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?!\[\d)|\n+")
_CITE = re.compile(r"\s*\[(\d{1,2})\]")
_END_PUNCT = re.compile(r"[.!?][\"')\]]*$")


def grounded_messages(system: str, history: list[dict], question: str, sources: Sequence[tuple[int, str, str]]) -> list[dict]:
    """Chat messages for one grounded answer; sources are (number, title, text)."""
    block = "\n\n".join(f"[{n}] {title}\n{text}" for n, title, text in sources)
    user = f"Sources\n\n{block}\n\nQuestion\n{question}"
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]


@dataclass
class Citation:
    number: int
    title: str
    url: str
    doc_id: str
    score: float  # relevance of the best chunk: P(in scope) under the index's fitted gate, else its calibrated relevance or cosine
    chunks: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list, repr=False)  # the retrieved chunk texts, given to the model

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "url": self.url, "doc_id": self.doc_id,
                "score": round(self.score, 4), "chunk_ids": list(self.chunks)}


def find_sources(retriever, mode: str, question: str, top_k: int, min_score: float) -> list[Citation]:
    """Chunks relevant to `question` (relevance >= min_score: the calibrated relevance on an index with
    learned scoring, else the dense cosine), grouped per document, best first."""
    search = retriever.search
    if "mode" in inspect.signature(search).parameters:
        hits = search([question], top_k, mode=mode)[0]
    elif mode != "dense":
        raise ConfigError(f"prompt.retrieval_mode={mode!r}: this index offers dense retrieval only")
    else:
        hits = search([question], top_k)[0]
    mode = retriever.resolve_mode(mode) if hasattr(retriever, "resolve_mode") else mode  # auto: what the index offers
    calibrated = getattr(retriever, "calibrations", {}).get(mode) is not None
    scores = [h.relevance for h in hits] if calibrated else _cosines(retriever, mode, question, hits)
    gate = getattr(retriever, "gate", None)
    citations: dict[str, Citation] = {}
    for hit, score in sorted(zip(hits, scores), key=lambda pair: -pair[1]):
        if score < min_score:
            continue
        cite = citations.get(hit.doc_id)
        if cite is None:
            relevance = gate.probability(score) if gate is not None else float(score)
            cite = citations[hit.doc_id] = Citation(len(citations) + 1, hit.title or hit.doc_id, hit.url, hit.doc_id, relevance)
        cite.chunks.append(hit.chunk_id)
        cite.texts.append(hit.text)
    return list(citations.values())


def _cosines(retriever, mode: str, question: str, hits) -> list[float]:
    """The dense cosine of each hit to the question: the relevance gate's one scale, whatever the mode
    (BM25 and fused RRF scores are ranks, not similarities). Hits found by dense search carry it;
    the others are embedded here."""
    scores: list[float | None] = []
    for hit in hits:
        dense = getattr(hit, "dense", None)
        if dense is None and mode == "dense":
            dense = hit.score
        scores.append(None if dense is None else float(dense))
    missing = [i for i, s in enumerate(scores) if s is None]
    if missing:
        vectors = embed(retriever.model, [question] + [hits[i].text for i in missing])
        for i, cos in zip(missing, vectors[1:] @ vectors[0]):
            scores[i] = float(cos)
    return scores  # type: ignore[return-value]


def source_block(citation: Citation) -> str:
    """The text a model is given for one numbered source: its retrieved chunks, in rank order."""
    return " … ".join(citation.texts)


# Where a completion-format answer is over: the model starts the next question or source list itself.
COMPLETION_STOPS = ("\nQuestion", "\nSources")


def render(tokenizer, messages: list[dict], fmt: str) -> str:
    """The prompt text: `chat` through the model's chat template (instruction-tuned models and sft
    adapters, which learned it), `completion` as plain text ending in "Answer:" for a pretrained model,
    which never saw a chat template and continues a document instead (measured on Gemma 3 270M: with
    the template it answered "please tell us so we can provide answers"; as a completion, on topic)."""
    if fmt == "chat":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    system = [m["content"] for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    parts = [(tokenizer.bos_token or "") + "\n\n".join(system)] if system else [tokenizer.bos_token or ""]
    for user, answer in zip(turns[:-1:2], turns[1:-1:2]):
        parts.append(f"Question\n{user['content']}\nAnswer: {answer['content']}")
    parts.append(f"{turns[-1]['content']}\nAnswer:")
    return "\n\n".join(parts)


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first stop marker."""
    ends = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(ends)] if ends else text


def complete_sentences(text: str) -> tuple[list[str], str]:
    """(finished sentences, the unfinished rest) of `text`; a finished sentence keeps its own citations."""
    done, start = [], 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start : m.start()].strip()
        if piece:
            done.append(piece)
        start = m.end()
    return done, text[start:]


def sentences(text: str, min_words: int = 3) -> list[str]:
    """Every sentence of `text` with at least `min_words` words, the last one too."""
    done, rest = complete_sentences(text)
    return [s for s in [*done, rest.strip()] if len(s.split()) >= min_words]


def ends_sentence(text: str) -> bool:
    return bool(_END_PUNCT.search(_CITE.sub("", text).rstrip()))


def cited(text: str) -> set[int]:
    return {int(n) for n in _CITE.findall(text)}


def strip_citations(text: str) -> str:
    return _CITE.sub("", text)


_WORD = re.compile(r"[a-z]+|\d+(?:[.,]\d+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_STOP = frozenset("""a about after again all also an and any are as at be because been before being but by can
could did do does doing for from had has have having he her here his how i if in into is it its just may me
might more most much must my no not of on once only or other our out over own same she should so some such
than that the their them then there these they this those through to too under until up very was we were what
when where which while who why will with would you your yours""".split())
MIN_RECALL = 0.34  # share of a sentence's content words (stemmed) the supporting source sentence must hold: a third
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                                                       "hundred": "100", "half": "0.5", "once": "1", "twice": "2"}


def _stems(text: str) -> tuple[set[str], set[str]]:
    """(stemmed content words, numbers with number words as digits) of a text."""
    import Stemmer

    words = [_NUMBER_WORDS.get(w, w) for w in _WORD.findall(text.lower()) if w not in _STOP]
    numbers = {w.replace(",", ".") for w in words if w[0].isdigit()}
    return set(Stemmer.Stemmer("english").stemWords([w for w in words if not w[0].isdigit()])), numbers


class Attributor:
    """Support of answer sentences by numbered sources.

    A source sentence supports an answer sentence when three things hold: their sentence embeddings
    are close (cosine >= `support`: the same topic and claim shape), it holds at least MIN_RECALL of
    the answer sentence's content words (stemmed: the same specifics), and every number of the answer
    sentence appears in that source (38 C is not 37.5 C). Embeddings alone call a topically close but
    false sentence supported ("a cold lasts 30 minutes" next to "a cold lasts 7-10 days"); word overlap
    alone misses paraphrase. No entailment model ships offline, so this is the check, and its limits
    are those of the three tests.
    """

    def __init__(self, embedder, sources: Sequence[tuple[int, str]], support: float):
        self._embed = lambda texts: embed(embedder, texts)
        self.support = support
        self.numbers: list[int] = []
        self.parts: list[tuple[set[str], set[str]]] = []
        self.source_numbers: dict[int, set[str]] = {}
        texts: list[str] = []
        for number, text in sources:
            self.source_numbers.setdefault(number, set()).update(_stems(text)[1])
            for s in sentences(text):
                self.numbers.append(number)
                self.parts.append(_stems(s))
                texts.append(s)
        self.vectors = self._embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)

    def scores(self, sentence: str) -> dict[int, float]:
        """Per source number, the best cosine among its sentences that pass the word and number tests
        (-1.0 when none passes)."""
        if not self.numbers:
            return {}
        words, numbers = _stems(strip_citations(sentence))
        sims = self.vectors @ self._embed([strip_citations(sentence)])[0]
        best: dict[int, float] = {n: -1.0 for n in self.numbers}
        for number, (source_words, _), sim in zip(self.numbers, self.parts, sims.tolist()):
            recall = len(words & source_words) / len(words) if words else 0.0
            if recall >= MIN_RECALL and numbers <= self.source_numbers[number]:
                best[number] = max(best[number], sim)
        return best

    def supported(self, sentence: str) -> bool:
        return max(self.scores(sentence).values(), default=-1.0) >= self.support

    def cite(self, sentence: str) -> str:
        """The sentence with the [n] of exactly the sources that support it: a number the model wrote for a
        source that does not support the sentence, or that it was never given, is removed."""
        keep = sorted(n for n, s in self.scores(sentence).items() if s >= self.support)
        body = strip_citations(sentence).rstrip()
        if not keep:
            return body
        marks = "".join(f" [{n}]" for n in keep)
        m = _END_PUNCT.search(body)
        return body[: m.start()] + marks + body[m.start() :] if m else body + marks


def grounded_conversation(retriever, mode: str, system: str, top_k: int, support: float, messages: list[dict]) -> list[dict]:
    """A question/answer conversation in the form the assistant serves: the question's retrieved sources in
    the prompt and the answer's sentences cited by the sources that support them. Other shapes (multi-turn
    dialogues) are returned unchanged."""
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) != 2 or turns[0]["role"] != "user" or turns[1]["role"] != "assistant":
        return messages
    question, answer = turns[0]["content"], turns[1]["content"]
    citations = find_sources(retriever, mode, question, top_k, -1.0)
    attributor = Attributor(retriever.model, [(c.number, t) for c in citations for t in c.texts], support)
    done, rest = complete_sentences(answer)
    cited_answer = " ".join(attributor.cite(s) for s in [*done, rest.strip()] if s)
    prompt = grounded_messages(system, [], question, [(c.number, c.title, source_block(c)) for c in citations])
    return [*prompt, {"role": "assistant", "content": cited_answer}]
