"""Audit: what an auditor asks of an artifact, answered from the store alone.

- `write_report`: `rungs audit REF` as Markdown + `lineage.png`, a self-contained HTML page and
  `audit.json`: every upstream artifact to the raw files, every file's sha256, config, code, metrics,
  who ran what when, aliases, the event log, and whether every file still verifies;
- `diff`: two artifacts compared (config, metrics with B - A, inputs, code);
- OpenLineage export: one COMPLETE RunEvent per artifact (`run_events`), JSON lines or POSTed to
  Marquez; `event_from_dict` rebuilds events for consumers.

The OpenLineage client loads with this package: callers that only list commands (`rungs --help`) do not
import it. Import from here, never from the private modules.
"""

from ._diff import diff
from ._facts import collect, lineage_graph
from ._openlineage import event_from_dict, post, run_events, run_id, select, to_json
from ._report import AuditResult, render_html, render_markdown, show_value, write_report

__all__ = [
    "AuditResult", "collect", "diff", "event_from_dict", "lineage_graph", "post", "render_html", "render_markdown",
    "run_events", "run_id", "select", "show_value", "to_json", "write_report",
]
