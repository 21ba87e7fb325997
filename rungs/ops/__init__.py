"""Nightly operations: the promotion gate and the `production` alias, the record of flow runs, notifications.

- `gate_and_promote`: a release (an evaluate artifact and what it evaluated) replaces production only
  when no gate metric is worse beyond its tolerance; `rollback` undoes the latest promotion still in
  effect; every decision is a record in the store's journal (`_log/decisions.jsonl`);
- `RunRecorder` / `list_runs`: the start and end of every flow run (`_log/runs.jsonl`), so `rungs runs`
  works without a Prefect server;
- `notify`: apprise URLs for failed, crashed, refused or promoted nights, never raising.

Import from here, never from the private modules.
"""

from ._notify import notify
from ._promotion import (
    compare,
    decision_markdown,
    decisions,
    evaluation_of,
    gate_and_promote,
    metric_key,
    release,
    rollback,
    top_rung,
)
from ._runs import RunRecorder, list_runs

__all__ = [
    "RunRecorder", "compare", "decision_markdown", "decisions", "evaluation_of", "gate_and_promote", "list_runs",
    "metric_key", "notify", "release", "rollback", "top_rung",
]
