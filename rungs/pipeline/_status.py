"""What a run would do, without running it: per stage, the fingerprint, and a stored artifact or why it builds.

Every fingerprint of a run is known before anything is built (a stage's inputs enter its fingerprint by
their own fingerprints), so `rungs status` and `rungs run --dry-run` say exactly which stages the run
would reuse. For a stage that would build, the reasons compare it with the newest artifact of its kind:
an input that is rebuilt or is another artifact, config keys that changed, raw files that changed, else
the stage's VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rungs.kernel import RungsConfig, StoreError, flatten, short_value
from rungs.store import Artifact, Store, jsonable

from ._graph import upstream, wiring
from ._stages import fingerprint, stage_config, stage_sources

_SHOWN = 4  # differing keys or files named per reason; the rest are counted


@dataclass
class StageStatus:
    """One stage of a planned run."""

    kind: str
    fingerprint: str
    waits_for: list[str]  # the stages of this run it takes inputs from
    artifact: Artifact | None  # the stored artifact with this fingerprint: the run reuses it
    previous: Artifact | None = None  # the newest artifact of the kind, which the reasons compare with
    reasons: list[str] = field(default_factory=list)  # why it would build

    @property
    def cached(self) -> bool:
        return self.artifact is not None

    def to_dict(self) -> dict:
        art = self.artifact
        return {
            "stage": self.kind, "fingerprint": self.fingerprint, "waits_for": self.waits_for, "cached": self.cached,
            "ref": art.ref if art else None, "id": art.id if art else None,
            "previous": self.previous.ref if self.previous else None, "reasons": self.reasons,
        }


def run_status(cfg: RungsConfig, store: Store) -> list[StageStatus]:
    """The stages of `cfg`'s pipeline in build order, each reused from `store` or to build, and why."""
    wires = wiring(cfg)
    done: dict[str, StageStatus] = {}
    for kind, inputs in wires.items():
        sources = stage_sources(kind, cfg)
        fp = fingerprint(kind, cfg, {name: done[up].fingerprint for name, up in inputs.items()}, sources)
        status = StageStatus(kind, fp, upstream(wires, kind), store.find(kind, fp))
        if not status.cached:
            status.previous, status.reasons = _why(kind, cfg, inputs, done, sources, store)
        done[kind] = status
    return list(done.values())


def _why(kind: str, cfg: RungsConfig, inputs: dict[str, str], done: dict[str, StageStatus], sources: dict, store: Store):
    arts = store.artifacts(kind)
    if not arts:
        return None, [f"no {kind} artifact in the store yet"]
    prev = arts[-1]
    reasons = []
    for name, up in inputs.items():
        given = done[up]
        if not given.cached:
            reasons.append(f"input {name} ({up}) is rebuilt")
        elif prev.inputs.get(name) != given.artifact.id:
            reasons.append(f"input {name} is {given.artifact.ref}; {prev.ref} used {_ref(store, prev.inputs.get(name))}")
    for name in sorted(set(prev.inputs) - set(inputs)):
        reasons.append(f"no input {name} now; {prev.ref} used {_ref(store, prev.inputs[name])}")
    now, then = dict(flatten(jsonable(stage_config(kind, cfg)))), dict(flatten(prev.config))
    changed = [k for k in sorted(set(now) | set(then)) if now.get(k) != then.get(k)]
    if changed:
        shown = [f"{k} {_show(then.get(k))} -> {_show(now.get(k))}" for k in changed[:_SHOWN]]
        reasons.append("config: " + ", ".join(shown) + (f" (+{len(changed) - _SHOWN} more)" if len(changed) > _SHOWN else ""))
    old = {name: s.get("sha256") for name, s in (prev.manifest.get("sources") or {}).items()}
    new = {name: s["sha256"] for name, s in sources.items()}
    files = [f"{name} ({'new' if name not in old else 'removed' if name not in new else 'changed'})"
             for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
    if files:
        reasons.append("raw files: " + ", ".join(files[:_SHOWN]) + (f" (+{len(files) - _SHOWN} more)" if len(files) > _SHOWN else ""))
    if not reasons:
        reasons.append(f"the stage's VERSION (stages/{kind}.py) changed since {prev.ref}")
    return prev, reasons


def _ref(store: Store, artifact_id: str | None) -> str:
    if not artifact_id:
        return "none"
    try:
        return store.get(artifact_id).ref
    except StoreError:  # a removed input is still worth naming by id
        return artifact_id


def _show(value) -> str:
    return "(unset)" if value is None else short_value(value)
