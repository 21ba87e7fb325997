"""The content-addressed artifact store: immutable, versioned artifacts, aliases, lineage, verify, retention.

One ``Store`` per root directory (``./artifacts`` or ``$RUNGS_STORE``). An artifact is
``<kind>/<id>/`` with ``manifest.json`` written last; publishing is one atomic rename under the store
lock. Every alias move, publish and removal is an event in the store's journal (``_log/``), which
also keeps the flow runs and promotion decisions of rungs.ops: one hash chain across them, whose head can
be signed with an Ed25519 key (``Journal.sign``) and checked with the public key alone.

Behind this face: ``_artifact`` (the manifest and its id), ``_locks``, ``_journal``, ``_core`` (refs,
aliases, builds, publish), ``_lineage``, ``_verify`` and ``_retention``.
"""

from ._artifact import (
    ALIAS_NAME_RULE,
    MANIFEST,
    MAX_NAME,
    SCHEMA,
    Artifact,
    canonical_json,
    check_alias_name,
    jsonable,
    manifest_id,
)
from ._journal import DECISIONS, EVENTS, KEY_ENV, RUNS, Journal, JournalReport, generate_keys, load_public_key
from ._retention import Garbage, parse_age
from ._store import Store

__all__ = [
    "ALIAS_NAME_RULE", "DECISIONS", "EVENTS", "KEY_ENV", "MANIFEST", "MAX_NAME", "RUNS", "SCHEMA", "Artifact", "Garbage",
    "Journal", "JournalReport", "Store", "canonical_json", "check_alias_name", "generate_keys", "jsonable",
    "load_public_key", "manifest_id", "parse_age",
]
