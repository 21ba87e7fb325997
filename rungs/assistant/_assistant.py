"""The patient assistant: grounded, cited answers from the promoted model and index, behind guardrails.

One `Assistant` holds a chat model (full weights, or an sft adapter on the model it was trained on) and
a `Retriever` over an index artifact. `reply(messages)` decides, in this order:

1. **red flag** — the emergency detector (rungs.safety: the red-flag rules of conf/prompt/ and the
   triage artifact's classifier, over every user turn since the last escalation) says emergency: the
   escalation message comes back at once; the model is not called and no generation is waited for.
2. **don't know** — no retrieved chunk is similar enough to the question (the index's fitted gate, or
   `prompt.min_score`: a cosine, or the calibrated relevance of an index with learned scoring): the
   assistant says so and suggests a clinician, again without calling the model.
3. **answer** — the model generates from the system prompt, the numbered sources and the conversation,
   streamed token by token (transformers' `TextIteratorStreamer`); a disclaimer and the numbered
   sources with their titles follow, so every answer carries its citations [1], [2], ...

Generation is serialised behind one lock (one model, one generation at a time); red flags and don't-know
replies never wait for it. Conversation text is never logged: nothing here writes questions or answers
anywhere but back to the caller.
"""

from __future__ import annotations

import inspect
import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import rungs  # noqa: F401  (offline environment before any Hugging Face import)
from rungs.kernel import ConfigError, HardwareConfig, InputError, PromptConfig, RungsError
from rungs.retrieval import FALLBACK_MIN_SCORE
from rungs.safety import Detector, Guardrails, load_classifier
from rungs.store import Artifact, Store

from ._grounding import (
    COMPLETION_STOPS,
    Attributor,
    Citation,
    complete_sentences,
    cut_at_stops,
    ends_sentence,
    find_sources,
    grounded_messages,
    render,
    source_block,
)
from ._messages import conversation, message_text
from ._refs import Refs, resolve_refs
from ._reply import Reply, fixed_reply

MODEL_ID = "rungs"  # the name clients use for the served assistant (OpenAI `model`)
MIN_ANSWER_TOKENS = 32  # the least an answer at default settings is left, however long the prompt
MIN_TEMPERATURE = 1e-2  # below it, sampling is greedy decoding (and logits / t overflow): t is taken as 0


class _LockedDecode:
    """The tokenizer's decode behind a lock: a fast tokenizer used from two threads at once (the streamer
    decoding while another request encodes its prompt) fails with "Already borrowed"."""

    def __init__(self, tokenizer, lock: threading.Lock):
        self.tokenizer, self.lock = tokenizer, lock

    def decode(self, *args, **kwargs):
        with self.lock:
            return self.tokenizer.decode(*args, **kwargs)


class _SentenceLimit:
    """A StoppingCriteria that ends a row once its generated text holds `limit` finished sentences (0: no
    limit) or one of the stop markers."""

    def __init__(self, decode, prompt_width: int, limit: int, stops: tuple[str, ...]):
        self.decode, self.width, self.limit, self.stops = decode, prompt_width, limit or 10**9, stops

    def _done(self, text: str) -> bool:
        return cut_at_stops(text, self.stops) != text or len(complete_sentences(text)[0]) >= self.limit

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = [self._done(self.decode(row[self.width :])) for row in input_ids.tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _Suppress:
    """A LogitsProcessor that bans a fixed set of token ids through a mask built once. transformers'
    `suppress_tokens` runs `torch.isin` over the whole vocabulary at every step: with Gemma's 262k
    tokens and ~100k of them non-Latin that was a third of each greedy step on a CPU."""

    def __init__(self, ids: list[int]):
        self.ids, self.mask = ids, None

    def __call__(self, input_ids, scores):
        import torch

        if self.mask is None or self.mask.shape[-1] != scores.shape[-1] or self.mask.device != scores.device:
            self.mask = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
            self.mask[[i for i in self.ids if i < scores.shape[-1]]] = True
        return scores.masked_fill(self.mask, -float("inf"))


class _Cancelled:
    """A StoppingCriteria that ends generation once `event` is set (the reader went away)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


# ------------------------------------------------------------------------------------------ the assistant


def load_chat_model(refs: Refs, hardware: HardwareConfig):
    """(model, tokenizer) for generation: the adapter folded in unless the weights are 4-bit."""
    from rungs.train import adapter_dir, load_model, load_with_adapter, model_tokenizer

    quantize = hardware.quant == "nf4"
    if refs.adapter is not None:
        adapter = adapter_dir(refs.adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise InputError(adapter / "adapter_config.json", f"{refs.adapter.ref} holds no LoRA adapter")
        model = load_with_adapter(refs.model, adapter, hardware, quantize=quantize)
        if not quantize:
            model = model.merge_and_unload()  # plain weights generate faster than adapter layers
    else:
        model = load_model(refs.model, hardware, quantize=quantize)
    model.eval()
    return model, model_tokenizer(refs.model)


class Assistant:
    """Grounded answering over one model and one index (see the module docstring)."""

    def __init__(self, refs: Refs, prompt: PromptConfig, hardware: HardwareConfig | None = None):
        from rungs.retrieval import Retriever  # torch and the embedder load with the assistant, not with its module
        from rungs.train import setup_torch

        hardware = hardware or HardwareConfig()
        _check_prompt(prompt)
        self.refs = refs
        self.prompt = prompt
        self.guardrails = Guardrails(prompt)
        self.detector = load_detector(refs.triage, self.guardrails)
        setup_torch(hardware, 0)
        self.retriever, self.retrieval_mode = _open_retriever(Retriever, refs.index.path, prompt.retrieval_mode)
        self.min_score = _min_score(prompt, self.retriever)
        self.model, self.tokenizer = load_chat_model(refs, hardware)
        self.format = prompt_format(prompt.format, refs)
        self.stops = COMPLETION_STOPS if self.format == "completion" else ()
        self.device = next(self.model.parameters()).device
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 8192)
        eos = {self.tokenizer.eos_token_id}
        end_of_turn = self.tokenizer.convert_tokens_to_ids("<end_of_turn>")
        if isinstance(end_of_turn, int) and end_of_turn != self.tokenizer.unk_token_id:
            eos.add(end_of_turn)
        self.eos_ids = sorted(i for i in eos if i is not None)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.lock = threading.Lock()  # one generation at a time on the one model
        self._search_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()
        self.generations = 0  # how many times the model was asked to generate
        self._prefix: tuple[list[int], object] | None = None  # (token ids, attention cache) of the prompt's constant head
        self._foreign: _Suppress | None = None

    @classmethod
    def from_store(cls, store: Store, prompt: PromptConfig, hardware: HardwareConfig | None = None, *,
                   model: str | None = None, adapter: str | None = None, index: str | None = None) -> Assistant:
        return cls(resolve_refs(store, model, adapter, index), prompt, hardware)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    def describe(self) -> dict:
        return {"id": MODEL_ID, **self.refs.describe(), "prompt": self.prompt.name}

    # -- retrieval ---------------------------------------------------------------------------------

    def retrieve(self, question: str) -> list[Citation]:
        """Sources relevant to `question` (cosine >= min_score), one per document, best first."""
        with self._search_lock:
            return find_sources(self.retriever, self.retrieval_mode, question, self.prompt.top_k, self.min_score)

    # -- prompting ---------------------------------------------------------------------------------

    def _messages(self, history: list[dict], question: str, sources: list[tuple[Citation, str]]) -> list[dict]:
        return grounded_messages(self.prompt.system, history, question, [(c.number, c.title, text) for c, text in sources])

    def _encode(self, messages: list[dict]):
        with self._tokenizer_lock:
            text = render(self.tokenizer, messages, self.format)
            return self.tokenizer(text, add_special_tokens=False, return_tensors="pt")

    def _fit(self, history: list[dict], question: str, citations: list[Citation], budget: int):
        """Prompt tokens within `budget`: drop old turns, then the weakest sources, then cut the last source."""
        sources = [(c, source_block(c)) for c in citations]
        while True:
            enc = self._encode(self._messages(history, question, sources))
            n = enc["input_ids"].shape[1]
            if n <= budget:
                return enc, sources
            if history:
                history = history[2:]
            elif len(sources) > 1:
                sources = sources[:-1]
            else:
                cite, text = sources[0]
                words = text.split()
                keep = int(len(words) * budget / n) - 8
                if keep < 8:
                    raise ValueError(f"the question is too long for this model's {self.max_positions}-token context")
                sources = [(cite, " ".join(words[:keep]))]

    # -- answering ---------------------------------------------------------------------------------

    def reply(self, messages: list[dict], *, max_new_tokens: int | None = None, temperature: float | None = None,
              sources_footer: bool | None = None) -> Reply:
        """Answer the last user message of `messages` (OpenAI-style {role, content} dicts).

        Raises ValueError on a malformed conversation. The returned Reply streams; the model runs only
        while it is iterated, behind the assistant's lock.
        """
        reply, enc, max_new, temperature, footer = self._prepare(messages, max_new_tokens, temperature, sources_footer)
        if enc is not None:
            reply._pieces = self._answer(reply, enc, max_new, temperature, footer)
        return reply

    def reply_all(self, conversations: list[list[dict]], *, max_new_tokens: int | None = None, batch_size: int = 8,
                  progress=None) -> list[Reply]:
        """Finished replies to many conversations, the model answering several at once (greedy).

        The same guardrails, retrieval, prompt and decoding settings as `reply`; only the generation is
        batched (left-padded), which is what makes evaluating hundreds of answers affordable on a CPU.
        """
        prepared = []
        for messages in conversations:
            try:
                prepared.append(self._prepare(messages, max_new_tokens, 0.0, None))
            except ValueError as exc:  # one unanswerable conversation is a finding, not the end of the batch
                prepared.append((fixed_reply("error", f"error: {exc}"), None, 0, 0.0, False))
        todo = sorted((i for i, p in enumerate(prepared) if p[1] is not None), key=lambda i: prepared[i][1]["input_ids"].shape[1])
        bar = progress(total=len(todo), desc="answers", unit="answer") if progress else None
        for start in range(0, len(todo), batch_size):
            group = todo[start : start + batch_size]
            texts = self._generate_batch([prepared[i][1] for i in group], max(prepared[i][2] for i in group))
            for i, (text, completion, stopped) in zip(group, texts):
                reply, _, max_new, _, footer = prepared[i]
                text = "".join(self._shape(reply, iter([text])))
                reply.model_text = text
                reply.completion_tokens = completion
                reply.finish_reason = "length" if completion >= max_new and not stopped else "stop"
                reply._pieces = iter([text, *self._tail(reply, footer)])
            if bar is not None:
                bar.update(len(group))
        if bar is not None:
            bar.close()
        replies = [p[0] for p in prepared]
        for r in replies:
            r.text()
        return replies

    def _prepare(self, messages, max_new_tokens, temperature, sources_footer):
        """(reply, prompt encoding or None when a fixed message answers, max new tokens, temperature, footer)."""
        p = self.prompt
        history, question = conversation(messages, p.max_history_turns)
        flag = self.detector.check(_since_escalation(messages, p.escalation))  # an emergency may span turns
        if flag is not None:
            reason = flag[1] or p.urgent_reason
            return fixed_reply("red_flag", p.escalation.format(reason=reason).strip(), red_flag=flag[0]), None, 0, 0.0, False
        citations = self.retrieve(question)
        if not citations:
            return fixed_reply("dont_know", p.dont_know.strip()), None, 0, 0.0, False
        asked = max_new_tokens is not None
        max_new = int(max_new_tokens) if asked else p.max_new_tokens
        if max_new < 1:
            raise ValueError("max_tokens must be at least 1")
        # An asked-for max_tokens is kept (the prompt shrinks to fit it); the default gives way to the prompt,
        # down to a quarter of the context, so a short question is answered on a small model at default settings.
        reserve = max_new if asked else min(max_new, max(MIN_ANSWER_TOKENS, self.max_positions // 4))
        if reserve >= self.max_positions:
            raise ValueError(f"max_tokens={max_new} leaves no room for the question in this model's "
                             f"{self.max_positions}-token context")
        enc, sources = self._fit(history, question, citations, self.max_positions - reserve)
        reply = Reply("answer", iter(()), [c for c, _ in sources])
        reply.prompt_tokens = int(enc["input_ids"].shape[1])
        if not asked:
            max_new = max(1, min(max_new, self.max_positions - reply.prompt_tokens))
        footer = sources_footer if sources_footer is not None else p.sources_footer
        return reply, enc, max_new, _temperature(p.temperature if temperature is None else temperature), footer

    def _answer(self, reply: Reply, enc, max_new: int, temperature: float, footer: bool) -> Iterator[str]:
        yield from self._generate(reply, enc, max_new, temperature)
        yield from self._tail(reply, footer)

    def _tail(self, reply: Reply, footer: bool) -> list[str]:
        """The disclaimer and the numbered sources that follow every model answer."""
        tail = []
        if self.prompt.disclaimer.strip():
            tail.append(self.prompt.disclaimer.strip())
        if footer and reply.citations:
            tail.append("Sources:\n" + "\n".join(
                f"[{c.number}] {c.title}" + (f" — {c.url}" if c.url else "") for c in reply.citations))
        return [("\n\n" if reply.model_text.strip() else "") + "\n\n".join(tail)] if tail else []

    def _shape(self, reply: Reply, pieces) -> Iterator[str]:
        """Whole sentences of the generated text, each with its citations, at most prompt.max_sentences.

        Text is held back until its sentence ends, so a cut-off tail is never shown: an answer that hits
        its token limit ends at its last full sentence (only an answer without one shows its fragment).
        A completion-format answer ends where the model starts a new question (COMPLETION_STOPS).
        """
        p = self.prompt
        attributor = None
        if p.attribute and reply.citations:
            attributor = Attributor(self.retriever.model, [(c.number, t) for c in reply.citations for t in c.texts], p.support)
        shown, buffer, ended = 0, "", False
        limit = p.max_sentences or 10**9
        for piece in pieces:
            if ended:
                continue  # drain: the generation stops at its next token (stopping criteria)
            buffer += piece
            cut = cut_at_stops(buffer, self.stops)
            if cut != buffer:
                buffer, ended = cut + "\n", True
            done, buffer = complete_sentences(buffer)
            for sentence in done:
                if shown < limit:
                    yield (" " if shown else "") + (attributor.cite(sentence) if attributor else sentence)
                    shown += 1
        tail = buffer.strip()
        if tail and shown < limit and (ends_sentence(tail) or not shown):
            yield (" " if shown else "") + (attributor.cite(tail) if attributor and ends_sentence(tail) else tail)

    def _decode(self, ids) -> str:
        with self._tokenizer_lock:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _foreign_tokens(self) -> _Suppress:
        """A ban on tokens with letters of a script other than Latin (computed once per assistant)."""
        if self._foreign is None:
            import unicodedata

            special = set(self.tokenizer.all_special_ids)
            pieces = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._foreign = _Suppress([i for i, piece in enumerate(pieces) if i not in special and piece and any(
                ch.isalpha() and not unicodedata.name(ch, "LATIN").startswith("LATIN") for ch in piece.replace("▁", ""))])
        return self._foreign

    def _generation_kwargs(self, max_new: int, temperature: float, prompt_width: int) -> dict:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        p = self.prompt
        kwargs = {
            "max_new_tokens": max_new,
            "eos_token_id": self.eos_ids,
            "pad_token_id": self.pad_id,
            "repetition_penalty": p.repetition_penalty,
            "do_sample": temperature > 0,
            "stopping_criteria": StoppingCriteriaList(
                [_SentenceLimit(self._decode, prompt_width, p.max_sentences, self.stops)] if p.max_sentences or self.stops else []),
        }
        if p.no_repeat_ngram:
            kwargs["no_repeat_ngram_size"] = p.no_repeat_ngram
        if p.latin_only:
            kwargs["logits_processor"] = LogitsProcessorList([self._foreign_tokens()])
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=0.95)
        else:  # greedy: sampling knobs from the model's generation config would only raise warnings
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def _generate_batch(self, encodings: list, max_new: int) -> list[tuple[str, int, bool]]:
        """(text, completion tokens, stopped at end of turn) per prompt, greedy, left-padded in one batch."""
        import torch

        width = max(e["input_ids"].shape[1] for e in encodings)
        ids = torch.full((len(encodings), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encodings), width), dtype=torch.long)
        for row, e in enumerate(encodings):
            n = e["input_ids"].shape[1]
            ids[row, width - n :] = e["input_ids"][0]
            mask[row, width - n :] = 1
        with self.lock, torch.inference_mode():
            self.generations += len(encodings)
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      **self._generation_kwargs(max_new, 0.0, width))
        results = []
        for row in out[:, width:].tolist():
            stop = next((k for k, t in enumerate(row) if t in self.eos_ids), None)
            kept = row if stop is None else row[:stop]
            with self._tokenizer_lock:
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append((text, len(kept) + (stop is not None), stop is not None))
        return results

    def _prefix_cache(self, input_ids: list[int]):
        """A copy of the attention cache of the prompt's constant head (chat template + system prompt), or
        None when this prompt does not start with it. Computed once; every answer then prefills only what
        follows the system prompt (on Gemma 3 270M about 120 of ~590 prompt tokens)."""
        import copy

        import torch

        if self._prefix is None and getattr(self.model.generation_config, "cache_implementation", None):
            self._prefix = ([], None)  # the model asks for its own cache type (static, hybrid...): no ready cache to hand it
        if self._prefix is None:
            sentinel = "\u2063rungs\u2063"  # text that cannot occur in the template: marks where the user's words start
            rendered = render(self.tokenizer, [{"role": "system", "content": self.prompt.system},
                                               {"role": "user", "content": sentinel}], self.format)
            head = rendered[: rendered.index(sentinel)]
            with self._tokenizer_lock:
                ids = self.tokenizer(head, add_special_tokens=False)["input_ids"][:-1]  # the last token may merge with what follows
            if len(ids) < 2:
                self._prefix = ([], None)
            else:
                with torch.no_grad():
                    out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True)
                cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.24
                self._prefix = (ids, cache)
        ids, cache = self._prefix
        if cache is None or len(input_ids) <= len(ids) or input_ids[: len(ids)] != ids:
            return None
        return copy.deepcopy(cache)  # generation extends the cache in place: the stored one stays the prefix

    def _generate(self, reply: Reply, enc, max_new: int, temperature: float) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        cancel = reply.cancelled
        with self.lock:
            if cancel.is_set():  # the reader left while waiting in line
                return
            self.generations += 1
            streamer = TextIteratorStreamer(_LockedDecode(self.tokenizer, self._tokenizer_lock), skip_prompt=True,
                                            skip_special_tokens=True)
            kwargs = {
                "input_ids": enc["input_ids"].to(self.device),
                "attention_mask": enc["attention_mask"].to(self.device),
                "streamer": streamer,
                **self._generation_kwargs(max_new, temperature, enc["input_ids"].shape[1]),
            }
            kwargs["stopping_criteria"].append(_Cancelled(cancel))
            result: dict = {}

            def run():
                import torch

                try:
                    if self.prompt.prefix_cache:
                        past = self._prefix_cache(enc["input_ids"][0].tolist())
                        if past is not None:
                            kwargs[_cache_kwarg()] = past
                    with torch.inference_mode():
                        result["ids"] = self.model.generate(**kwargs)
                except BaseException as exc:  # noqa: BLE001  (surfaced to the reader below; the streamer must still end)
                    result["error"] = exc
                    streamer.end()

            thread = threading.Thread(target=run, name="rungs-generate", daemon=True)
            thread.start()
            parts = []
            try:
                for piece in self._shape(reply, streamer):
                    if piece and reply.first_token_at is None:
                        reply.first_token_at = time.perf_counter()
                    parts.append(piece)
                    reply.model_text = "".join(parts)
                    yield piece
            finally:
                cancel.set()  # a reader that stopped early ends the generation at its next token
                thread.join()
        if "error" in result:
            raise RungsError(f"generation failed: {type(result['error']).__name__}") from result["error"]
        ids = result["ids"][0, enc["input_ids"].shape[1]:].tolist()
        reply.completion_tokens = len(ids)
        stopped = bool(ids) and ids[-1] in self.eos_ids
        reply.finish_reason = "length" if len(ids) >= max_new and not stopped else "stop"


def _min_score(prompt: PromptConfig, retriever) -> float:
    """The don't-know threshold: prompt.min_score when set, else the index's fitted gate, else the relevance
    threshold its retriever chose on held-out questions (both on the scale find_sources compares: the
    calibrated relevance on an index with learned scoring, else the cosine)."""
    if prompt.min_score is not None:
        return prompt.min_score
    gate = getattr(retriever, "gate", None)
    if gate is not None:
        return gate.threshold
    if getattr(retriever, "calibrated", False) and retriever.min_relevance is not None:
        return retriever.min_relevance
    print(f"warning: {retriever.index_dir} has no fitted don't-know gate; using a cosine of {FALLBACK_MIN_SCORE}",
          file=sys.stderr)
    return FALLBACK_MIN_SCORE


def _since_escalation(messages: list[dict], escalation: str) -> list[dict]:
    """The turns after the assistant last escalated: what it already sent to emergency care is not read
    again, so one emergency does not turn every later question into another escalation."""
    marker = escalation.format(reason="").strip()
    for k in range(len(messages) - 1, -1, -1):
        m = messages[k]
        if m.get("role") == "assistant" and marker and marker in message_text(m.get("content")):
            return messages[k + 1 :]
    return messages


def load_detector(triage: Artifact | None, rules: Guardrails) -> Detector:
    """Rules and the trained classifier of a triage artifact; the rules alone (with a warning) without one."""
    if triage is None:
        print("warning: no triage artifact in the store: emergencies are detected by the red-flag rules alone "
              "(build one: `rungs stage triage`)", file=sys.stderr)
        return Detector(rules)
    classifier, embedder = load_classifier(Path(triage.path))
    return Detector(rules, classifier, embedder)


def prompt_format(setting: str, refs: Refs) -> str:
    """prompt.format=auto: `chat` for a model that learned a chat template (an sft adapter, a merged one, or an
    instruction-tuned base), else `completion`."""
    if setting != "auto":
        return setting
    if refs.adapter is not None or refs.model.kind == "merge":
        return "chat"
    model = refs.model.config.get("model") or {}
    return "chat" if model.get("instruction_tuned") else "completion"


def _temperature(value) -> float:
    """A sampling temperature generation can use: 0 (greedy) below MIN_TEMPERATURE, where dividing the
    logits by it would overflow to inf and NaN (`temperature=1e-300`) and sampling is greedy anyway."""
    t = float(value)
    if not math.isfinite(t) or t < 0:
        raise ValueError("temperature must be a finite number >= 0")
    return 0.0 if t < MIN_TEMPERATURE else t


def _cache_kwarg() -> str:
    """generate()'s name for a ready attention cache: `cache` from transformers 5.24, `past_key_values` before."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values"


def _open_retriever(retriever_class, index_dir, mode: str):
    """(Retriever, the mode it searches in): the configured mode, or dense on an index built before BM25
    existed (a warning says so; answers stay grounded, only lexical matching is lost)."""
    if "mode" not in inspect.signature(retriever_class).parameters:
        if mode != "dense":
            print(f"warning: prompt.retrieval_mode={mode}: this retriever offers dense retrieval only; using dense",
                  file=sys.stderr)
        return retriever_class(index_dir), "dense"
    try:
        retriever = retriever_class(index_dir, mode=mode)
        return retriever, getattr(retriever, "mode", mode)  # auto resolved to what this index offers
    except InputError as exc:
        if mode == "dense":
            raise
        print(f"warning: prompt.retrieval_mode={mode} needs the index's BM25 part ({exc}); using dense retrieval",
              file=sys.stderr)
        return retriever_class(index_dir, mode="dense"), "dense"


def _check_prompt(p: PromptConfig) -> None:
    if p.top_k < 1:
        raise ConfigError(f"prompt.top_k={p.top_k}: expected >= 1")
    if p.min_score is not None and not -1.0 <= p.min_score <= 1.0:
        raise ConfigError(f"prompt.min_score={p.min_score}: a cosine similarity, expected between -1 and 1")
    if p.max_new_tokens < 1:
        raise ConfigError(f"prompt.max_new_tokens={p.max_new_tokens}: expected >= 1")
    if p.temperature < 0:
        raise ConfigError(f"prompt.temperature={p.temperature}: expected >= 0 (0 = greedy)")
    if p.retrieval_mode not in ("dense", "bm25", "hybrid", "rerank", "auto"):
        raise ConfigError(f"prompt.retrieval_mode={p.retrieval_mode!r}: expected dense, bm25, hybrid, rerank or auto")
    if p.format not in ("auto", "chat", "completion"):
        raise ConfigError(f"prompt.format={p.format!r}: expected auto, chat or completion")
