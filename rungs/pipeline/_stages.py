"""The one place that loads stage modules (`stages.<kind>`), and what a stage's fingerprint is made of.

A stage module declares how its kind is built: `VERSION`, `CONFIG` (the config sections that shape the
artifact), `sources(cfg)` (the raw files it reads), optionally `needs(cfg)` (the inputs this config
uses) and `own_process(cfg)` (whether it builds in a process of its own: rungs.pipeline._launch), and
`run(...)`. What the kind is (its inputs, whether it trains or holds weights) is the ladder's
(rungs.kernel). Stage modules import torch and friends inside `run`, so loading one here to fingerprint
it stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Collection, Mapping
from types import ModuleType
from typing import TypeVar

from rungs.curation import sources_digest
from rungs.kernel import RungsConfig, rung, section
from rungs.store import Artifact

T = TypeVar("T")


def stage_module(kind: str) -> ModuleType:
    """stages.<kind>, for a kind the ladder declares."""
    rung(kind)  # an unknown kind names the closest one
    return importlib.import_module(f"stages.{kind}")


def needs(kind: str, cfg: RungsConfig) -> set[str]:
    """The inputs `kind` uses under `cfg` (base uses a corpus only for a tokenizer trained on it)."""
    module = stage_module(kind)
    return set(module.needs(cfg)) if hasattr(module, "needs") else set(rung(kind).inputs)


def choose_inputs(kind: str, cfg: RungsConfig | None, offer: Callable[[str], T | None], missing: Callable[[str, tuple[str, ...]], Exception],
                  *, skip: Collection[str] = ()) -> dict[str, T]:
    """For each input `kind` uses under `cfg` (all it declares when `cfg` is None), the first of its accepted
    kinds that `offer` has; a required input that nothing offers raises `missing(name, kinds)`. Inputs
    named in `skip` are left to the caller (chosen by an explicit ref)."""
    declared = rung(kind)
    wanted = needs(kind, cfg) if cfg is not None else set(declared.inputs)
    chosen: dict[str, T] = {}
    for name, kinds in declared.inputs.items():
        if name in skip or name not in wanted:
            continue
        found = next((x for k in kinds if (x := offer(k)) is not None), None)
        if found is not None:
            chosen[name] = found
        elif name not in declared.optional:
            raise missing(name, kinds)
    return chosen


def stage_sources(kind: str, cfg: RungsConfig) -> dict[str, dict]:
    """{file: {sha256, bytes}} of the raw files the stage reads under `cfg`."""
    return sources_digest(stage_module(kind).sources(cfg))


def stage_config(kind: str, cfg: RungsConfig) -> dict:
    """The parts of `cfg` that shape the artifact (fingerprinted, and recorded in its manifest)."""
    return section(cfg, stage_module(kind).CONFIG)


def fingerprint(kind: str, cfg: RungsConfig, inputs: Mapping[str, Artifact | str], sources: dict[str, dict]) -> str:
    """sha256 of what determines the artifact: stage, its VERSION, its config, its inputs, its raw files.

    `inputs` are the input artifacts, or their fingerprints when they are still to be built (`rungs status`).
    """
    payload = {
        "kind": kind,
        "stage_version": stage_module(kind).VERSION,
        "config": stage_config(kind, cfg),
        "inputs": {name: a if isinstance(a, str) else a.fingerprint for name, a in sorted(inputs.items())},
        # content, not paths: the same files read from another directory are the same input
        "sources": [s["sha256"] for s in sources.values()],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
