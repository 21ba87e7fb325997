"""Which artifacts an assistant is built from: a model (full weights), maybe an sft adapter, an index, and
maybe a triage classifier.

Without refs, the `production` alias of the most specialised kind that has one (merge, sft, cpt, base),
else the newest of them; the index is `index@production`, else `index@latest`; the triage classifier
`triage@production`, else `triage@latest`, else none (the red-flag rules alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from rungs.kernel import FULL_WEIGHTS, MODELS, StoreError
from rungs.store import Artifact, Store


@dataclass(frozen=True)
class Refs:
    """The artifacts one assistant is built from."""

    model: Artifact  # full weights: base, cpt or merge
    adapter: Artifact | None  # an sft LoRA adapter applied on `model`, or None
    index: Artifact
    triage: Artifact | None = None  # the trained emergency classifier; None: the red-flag rules alone

    def describe(self) -> dict:
        return {
            "model": self.model.ref,
            "model_id": self.model.id,
            "adapter": self.adapter.ref if self.adapter else None,
            "adapter_id": self.adapter.id if self.adapter else None,
            "index": self.index.ref,
            "index_id": self.index.id,
            "triage": self.triage.ref if self.triage else None,
        }

    def summary(self) -> str:
        model = f"{self.adapter.ref} on {self.model.ref}" if self.adapter else self.model.ref
        return f"model {model}, index {self.index.ref}"


def _first(store: Store, refs: list[str]) -> Artifact | None:
    for ref in refs:
        try:
            return store.resolve(ref)
        except StoreError:
            continue
    return None


def _trunk(store: Store, adapter: Artifact) -> Artifact:
    trunk_id = adapter.inputs.get("model")
    if not trunk_id:
        raise StoreError(f"{adapter.ref}: the manifest names no input 'model' the adapter was trained on")
    return store.get(trunk_id)


def resolve_refs(store: Store, model: str | None = None, adapter: str | None = None, index: str | None = None) -> Refs:
    """Model, adapter and index to serve: the refs given, else each kind's `production` alias, else the latest.

    With no model ref, the most specialised kind with a `production` alias wins (merge, sft, cpt, base);
    without any production alias, the most recently built of those kinds. An sft adapter is loaded on
    the model it was trained on unless `model` names another.
    """
    model_art = store.resolve(model) if model else None
    adapter_art = store.resolve(adapter) if adapter else None
    if adapter_art is not None and adapter_art.kind != "sft":
        raise StoreError(f"--adapter {adapter}: {adapter_art.ref} is a {adapter_art.kind} artifact, expected an sft adapter")
    if model_art is not None and model_art.kind == "sft":
        if adapter_art is not None:
            raise StoreError(f"--model {model} is an sft adapter and --adapter {adapter} another: name one adapter")
        model_art, adapter_art = None, model_art
    if model_art is not None and model_art.kind not in FULL_WEIGHTS:
        raise StoreError(f"--model {model}: {model_art.ref} is a {model_art.kind} artifact; expected one of {', '.join(MODELS)}")
    if model_art is None and adapter_art is None:
        picked = _first(store, [f"{kind}@production" for kind in MODELS])
        if picked is None:
            candidates = [a for kind in MODELS for a in store.artifacts(kind)]
            if not candidates:
                raise StoreError(f"no model to chat with in {store.root}: build one first (`rungs run`), or name one with --model")
            picked = max(candidates, key=lambda a: (a.created_at, MODELS[::-1].index(a.kind)))
        if picked.kind == "sft":
            adapter_art = picked
        else:
            model_art = picked
    if model_art is None:
        model_art = _trunk(store, adapter_art)
    if index:
        index_art = store.resolve(index)
    else:
        index_art = _first(store, ["index@production", "index@latest"])
        if index_art is None:
            raise StoreError(f"no index in {store.root}: build one (`rungs stage index`), or name one with --index")
    if index_art.kind != "index":
        raise StoreError(f"--index {index}: {index_art.ref} is a {index_art.kind} artifact, expected an index")
    return Refs(model=model_art, adapter=adapter_art, index=index_art, triage=_first(store, ["triage@production", "triage@latest"]))
