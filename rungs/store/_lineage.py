"""Lineage queries: what an artifact was built from (upstream), what was built from it (downstream).

A mixin of ``Store``: lineage is the ``inputs`` chain of the manifests, read both ways.
"""

from __future__ import annotations

from collections.abc import Iterable

from rungs.kernel import StoreError

from ._artifact import Artifact, version_key


class Lineage:
    """Upstream and downstream trees of an artifact, and the closure of a set of ids."""

    def upstream(self, ref: str) -> dict:
        """``{"artifact": Artifact, "inputs": {name: subtree}}`` down to the raw-input stages.

        An input missing from the store appears as ``{"artifact": None, "id": id, "inputs": {}}``.
        """
        memo: dict[str, dict] = {}

        def tree(art: Artifact, seen: frozenset) -> dict:
            if art.id in memo:
                return memo[art.id]
            node: dict = {"artifact": art, "inputs": {}}
            for name, iid in sorted(art.inputs.items()):
                if iid in seen:
                    raise StoreError(f"{art.ref}: lineage cycle through {iid}")
                try:
                    child = self.get(iid)
                except StoreError:
                    node["inputs"][name] = {"artifact": None, "id": iid, "inputs": {}}
                    continue
                node["inputs"][name] = tree(child, seen | {art.id})
            memo[art.id] = node
            return node

        return tree(self.resolve(ref), frozenset())

    def downstream(self, ref: str) -> dict:
        """``{"artifact": Artifact, "children": [subtree, ...]}``: everything built from ``ref``."""
        root = self.resolve(ref)
        users: dict[str, list[Artifact]] = {}
        for a in self.artifacts():
            for iid in set(a.inputs.values()):
                users.setdefault(iid, []).append(a)
        memo: dict[str, dict] = {}

        def tree(art: Artifact, seen: frozenset) -> dict:
            if art.id in memo:
                return memo[art.id]
            if art.id in seen:
                raise StoreError(f"{art.ref}: lineage cycle")
            children = sorted(users.get(art.id, []), key=lambda a: (a.kind, version_key(a)))
            node = {"artifact": art, "children": [tree(c, seen | {art.id}) for c in children]}
            memo[art.id] = node
            return node

        return tree(root, frozenset())

    def lineage_closure(self, ids: Iterable[str]) -> set[str]:
        """``ids`` and the id of every artifact upstream of them (through manifest inputs)."""
        by_id = {a.id: a for a in self.artifacts()}
        seen: set[str] = set()
        stack = list(ids)
        while stack:
            iid = stack.pop()
            if iid in seen:
                continue
            seen.add(iid)
            if iid in by_id:
                stack.extend(by_id[iid].inputs.values())
        return seen
