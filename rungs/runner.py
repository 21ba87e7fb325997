"""Build one stage: fingerprint its inputs, reuse a stored artifact with that fingerprint, else run and publish.

The store is the cache (Prefect's own caching keys on values and source, not on file contents).
Plain functions: the Prefect tasks in flows/ and the tests call these directly.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from dataclasses import dataclass
from types import ModuleType

from . import distributed
from .config import STAGES, RungsConfig, section
from .data import sources_digest
from .errors import StoreError
from .progress import Progress, progress_factory
from .store import Artifact, Store


@dataclass
class BuildResult:
    artifact: Artifact
    cached: bool
    seconds: float

    def row(self) -> dict:
        a = self.artifact
        return {"stage": a.kind, "ref": a.ref, "id": a.id, "cached": self.cached, "seconds": round(self.seconds, 2), "metrics": a.metrics,
                "path": str(a.path)}


def stage_module(kind: str) -> ModuleType:
    if kind not in STAGES:
        raise StoreError(f"unknown stage {kind!r}; stages are {', '.join(STAGES)}")
    return importlib.import_module(f"stages.{kind}")


def fingerprint(kind: str, cfg: RungsConfig, inputs: dict[str, Artifact], sources: dict[str, dict]) -> str:
    """sha256 of what determines the artifact: stage, its VERSION, its config, its inputs, its raw files."""
    module = stage_module(kind)
    payload = {
        "kind": kind,
        "stage_version": module.VERSION,
        "config": section(cfg, module.CONFIG),
        "inputs": {name: art.fingerprint for name, art in sorted(inputs.items())},
        # content, not paths: the same files read from another directory are the same input
        "sources": [s["sha256"] for s in sources.values()],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def resolve_inputs(
    kind: str, store: Store, *, built: dict[str, Artifact] | None = None, refs: dict[str, str] | None = None, cfg: RungsConfig | None = None
) -> dict[str, Artifact]:
    """Input artifacts for a stage: explicit refs first, then this run's outputs, else the store's latest.

    A flow passes `built` only, so a pipeline never mixes in artifacts it did not build; a researcher's
    one-stage run (`built=None`) falls back to the latest artifact of each accepted kind.
    """
    module = stage_module(kind)
    refs = dict(refs or {})
    unknown = set(refs) - set(module.INPUTS)
    if unknown:
        raise StoreError(f"stage {kind} has no input(s) {sorted(unknown)}; its inputs are {sorted(module.INPUTS)}")
    inputs: dict[str, Artifact] = {}
    # a stage may use fewer inputs for some configs (base only needs a corpus for a trained tokenizer)
    wanted = module.needs(cfg) if cfg is not None and hasattr(module, "needs") else set(module.INPUTS)
    for name, kinds in module.INPUTS.items():
        if name not in wanted and name not in refs:
            continue
        if name in refs:
            art = store.resolve(refs[name])
            if art.kind not in kinds:
                raise StoreError(f"inputs.{name}={refs[name]} is a {art.kind} artifact; stage {kind} expects {' or '.join(kinds)}")
            inputs[name] = art
            continue
        pool = built if built is not None else {k: arts[-1] for k in kinds if (arts := store.artifacts(k))}
        found = next((pool[k] for k in kinds if k in pool), None)
        if found is not None:
            inputs[name] = found
        elif name not in module.OPTIONAL:
            raise StoreError(
                f"stage {kind} needs input '{name}' ({' or '.join(kinds)}) and none is available; "
                f"build it first or pass inputs.{name}=REF"
            )
    return inputs


def build(kind: str, cfg: RungsConfig, inputs: dict[str, Artifact], store: Store, *, progress: Progress | None = None, run: dict | None = None) -> BuildResult:
    """Return the artifact for (kind, cfg, inputs): from the store if its fingerprint exists, else built now."""
    began = time.perf_counter()
    module = stage_module(kind)
    sources = sources_digest(module.sources(cfg))
    fp = fingerprint(kind, cfg, inputs, sources)
    hit = store.find(kind, fp)
    if hit is not None:
        return BuildResult(hit, True, time.perf_counter() - began)
    with store.building(fp):
        hit = store.find(kind, fp)  # another process may have built it while we waited for the lock
        if hit is not None:
            return BuildResult(hit, True, time.perf_counter() - began)
        scratch = store.scratch(fp)
        with store.staging(kind) as out:
            if distributed.wanted(kind, cfg):  # hardware.processes > 1: one worker per device, via torchrun
                metrics = distributed.launch(kind, cfg, inputs, out, scratch)
            else:
                metrics = module.run(cfg, inputs, out, progress or progress_factory(), scratch)
            artifact = store.publish(
                kind,
                out,
                fingerprint=fp,
                inputs=inputs,
                config=section(cfg, module.CONFIG),
                metrics=metrics,
                sources=sources,
                duration_s=round(time.perf_counter() - began, 3),
                run=run,
            )
        store.remove_scratch(fp)
    return BuildResult(artifact, False, time.perf_counter() - began)
