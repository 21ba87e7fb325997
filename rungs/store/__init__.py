"""The content-addressed artifact store: immutable, versioned artifacts, aliases, lineage, verify, retention.

One ``Store`` per root directory (``./artifacts`` or ``$RUNGS_STORE``). An artifact is
``<kind>/<id>/`` with ``manifest.json`` written last; publishing is one atomic rename under the store
lock. Every alias move, publish and removal is an event in the store's journal (``_log/``), which
also keeps the flow runs and promotion decisions of rungs.ops.

Behind this face: ``_artifact`` (the manifest and its id), ``_locks``, ``_journal``, ``_core`` (refs,
aliases, builds, publish), ``_lineage``, ``_verify`` and ``_retention``.
"""

from ._artifact import MANIFEST, SCHEMA, Artifact, canonical_json, jsonable, manifest_id
from ._journal import DECISIONS, EVENTS, RUNS, Journal
from ._retention import Garbage, parse_age
from ._store import Store

__all__ = [
    "DECISIONS", "EVENTS", "MANIFEST", "RUNS", "SCHEMA", "Artifact", "Garbage", "Journal", "Store",
    "canonical_json", "jsonable", "manifest_id", "parse_age",
]
