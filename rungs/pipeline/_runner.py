"""Build one stage: fingerprint it, reuse a stored artifact with that fingerprint, else run and publish.

The store is the cache (Prefect's own caching keys on values and source, not on file contents).
Plain functions: the Prefect tasks in flows/ and the tests call these directly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rungs.kernel import Progress, RungsConfig, StoreError, progress_factory, rung
from rungs.store import Artifact, Store

from . import _launch
from ._stages import choose_inputs, fingerprint, stage_config, stage_module, stage_sources


@dataclass
class BuildResult:
    artifact: Artifact
    cached: bool
    seconds: float

    def row(self) -> dict:
        a = self.artifact
        return {"stage": a.kind, "ref": a.ref, "id": a.id, "cached": self.cached, "seconds": round(self.seconds, 2), "metrics": a.metrics,
                "path": str(a.path)}


def resolve_inputs(
    kind: str, store: Store, *, built: dict[str, Artifact] | None = None, refs: dict[str, str] | None = None, cfg: RungsConfig | None = None
) -> dict[str, Artifact]:
    """Input artifacts for a stage: explicit refs first, then this run's outputs, else the store's latest.

    A flow passes `built` only, so a pipeline never mixes in artifacts it did not build; a researcher's
    one-stage run (`built=None`) falls back to the latest artifact of each accepted kind.
    """
    declared = rung(kind)
    refs = dict(refs or {})
    unknown = set(refs) - set(declared.inputs)
    if unknown:
        raise StoreError(f"stage {kind} has no input(s) {sorted(unknown)}; its inputs are {sorted(declared.inputs)}")
    inputs: dict[str, Artifact] = {}
    for name, ref in refs.items():
        art = store.resolve(ref)
        if art.kind not in declared.inputs[name]:
            raise StoreError(f"inputs.{name}={ref} is a {art.kind} artifact; stage {kind} expects {' or '.join(declared.inputs[name])}")
        inputs[name] = art

    def offered(k: str) -> Artifact | None:
        if built is not None:
            return built.get(k)
        arts = store.artifacts(k)
        return store.get(arts[-1].id) if arts else None  # get: refused if a file of it became a symbolic link

    def missing(name: str, kinds: tuple[str, ...]) -> StoreError:
        return StoreError(f"stage {kind} needs input '{name}' ({' or '.join(kinds)}) and none is available; "
                          f"build it first or pass inputs.{name}=REF")

    # a stage may use fewer inputs for some configs (base only needs a corpus for a trained tokenizer)
    inputs.update(choose_inputs(kind, cfg, offered, missing, skip=refs))
    return {name: inputs[name] for name in declared.inputs if name in inputs}


_IMPORTS = threading.Lock()


def _import_libraries() -> None:
    """The DAG builds independent stages in threads side by side; transformers' lazy module is not safe to
    import from two threads at once (corpus and triage starting together raised "cannot import name
    'AutoTokenizer'"), so the first stage to build imports what the stages use, holding a lock. Cached
    stages never get here: an unchanged rerun imports no torch."""
    with _IMPORTS:
        import transformers

        for name in ("AutoConfig", "AutoTokenizer", "AutoModelForCausalLM", "PreTrainedTokenizerFast"):
            getattr(transformers, name)
        import sentence_transformers  # noqa: F401  (it imports transformers' internals on first use, too)


def build(kind: str, cfg: RungsConfig, inputs: dict[str, Artifact], store: Store, *, progress: Progress | None = None, run: dict | None = None) -> BuildResult:
    """Return the artifact for (kind, cfg, inputs): from the store if its fingerprint exists, else built now."""
    began = time.perf_counter()
    sources = stage_sources(kind, cfg)
    fp = fingerprint(kind, cfg, inputs, sources)
    hit = store.find(kind, fp)
    if hit is not None:
        return BuildResult(hit, True, time.perf_counter() - began)
    with store.building(fp):
        hit = store.find(kind, fp)  # another process may have built it while we waited for the lock
        if hit is not None:
            return BuildResult(hit, True, time.perf_counter() - began)
        _import_libraries()
        module = stage_module(kind)
        scratch = store.scratch(fp)
        with store.staging(kind) as out:
            if _launch.wanted(kind, cfg):  # hardware.processes > 1 (one worker per device, via torchrun) or a process of its own
                metrics = _launch.launch(kind, cfg, inputs, out, scratch)
            else:
                metrics = module.run(cfg, inputs, out, progress or progress_factory(), scratch)
            artifact = store.publish(
                kind,
                out,
                fingerprint=fp,
                inputs=inputs,
                config=stage_config(kind, cfg),
                metrics=metrics,
                sources=sources,
                duration_s=round(time.perf_counter() - began, 3),
                run=run,
            )
        store.remove_scratch(fp)
    return BuildResult(artifact, False, time.perf_counter() - began)
