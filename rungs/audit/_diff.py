"""`rungs diff A B`: how two artifacts differ in resolved config, metrics (B - A), inputs and code."""

from __future__ import annotations

from typing import Any

from rungs.kernel import RungsError, flatten
from rungs.store import Artifact, Store


def diff(store: Store, ref_a: str, ref_b: str, *, show_all: bool = False) -> dict:
    """Config, metric, input and code differences between two artifacts (only differing keys unless show_all)."""
    a, b = store.resolve(ref_a), store.resolve(ref_b)

    def inputs(art: Artifact) -> dict:
        out = {}
        for name, iid in art.inputs.items():
            try:
                out[name] = f"{store.get(iid).ref} ({iid})"
            except RungsError:
                out[name] = f"missing ({iid})"
        return out

    def code(art: Artifact) -> dict:
        c = dict(art.manifest.get("code") or {})
        packages = c.pop("packages", {}) or {}
        return {**c, **{f"packages.{k}": v for k, v in packages.items()}}

    sections = {}
    for name, left, right in (
        ("config", dict(flatten(a.config)), dict(flatten(b.config))),
        ("metrics", dict(flatten(a.metrics)), dict(flatten(b.metrics))),
        ("inputs", inputs(a), inputs(b)),
        ("code", code(a), code(b)),
    ):
        rows = []
        same = 0
        for key in sorted(set(left) | set(right)):
            va, vb = left.get(key), right.get(key)
            if va == vb:
                same += 1
                if not show_all:
                    continue
            row = {"key": key, "a": va, "b": vb}
            if name == "metrics" and _number(va) and _number(vb):
                row["delta"] = vb - va
            rows.append(row)
        sections[name] = {"rows": rows, "same": same, "different": sum(r["a"] != r["b"] for r in rows)}
    return {
        "a": {"ref": a.ref, "id": a.id, "kind": a.kind, "created_at": a.created_at},
        "b": {"ref": b.ref, "id": b.id, "kind": b.kind, "created_at": b.created_at},
        **sections,
    }


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
