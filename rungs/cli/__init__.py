"""The `rungs` command: the face people use. Nothing in rungs imports it.

One module per group of verbs (build: run, status, stage, merge; config: config, plan; advise; the store's
artifacts: ls, show, lineage, verify, alias, log; retention: gc; operations: promote, rollback, runs;
audit: audit, diff, export-lineage; the assistant: chat, serve), over shared output helpers. Heavy
subsystems (Prefect, torch, the OpenLineage client) load inside the command that needs them, so
`rungs --help` and the inspection verbs start in a fraction of a second.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
