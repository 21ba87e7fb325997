"""How every command prints: one console, JSON for tools, tables that stay readable at 80 columns, quiet mode.

Width: a terminal's own (so `COLUMNS=80` or an 80-column window is honoured); piped output is 200 wide
unless $COLUMNS says otherwise, so ids and paths are never cut for scripts. Tables fold long cells
instead of cutting them, never wrap an id, and drop columns that `rungs show` has when the width is
under 100. `-q` (quiet) keeps results and errors and drops notices, progress bars and Prefect's logs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rungs.kernel import ConfigError, flatten, rung, short_value

REF_HELP = "id, id prefix, KIND:vN, KIND@ALIAS or KIND"  # how every verb's help names an artifact
PIPED_WIDTH = 200
NARROW = 100  # below this many columns, tables leave out what `rungs show` and `rungs runs --json` have

_quiet = False


def set_quiet(quiet: bool) -> None:
    """`rungs -q`: notices go nowhere; results and errors still print."""
    global _quiet
    _quiet = bool(quiet)


def quiet() -> bool:
    return _quiet


def console() -> Console:
    """A console on the current stdout (tests swap sys.stdout, so it is made per call)."""
    out = sys.stdout
    is_tty = hasattr(out, "isatty") and out.isatty()
    columns = os.environ.get("COLUMNS", "")
    width = None if is_tty else int(columns) if columns.isdigit() else PIPED_WIDTH
    # piped at the default width, long lines stay whole (one grep-able line); at a chosen width they wrap
    return Console(file=out, width=width, highlight=False, soft_wrap=width == PIPED_WIDTH)


def narrow(con: Console) -> bool:
    return con.width < NARROW


def table(title: str = "", *columns: str, no_wrap: tuple[str, ...] = ()) -> Table:
    """A table in the house style: light rules, left-aligned title, long cells folded, `no_wrap` columns kept whole."""
    t = Table(title=escape(title) if title else None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        t.add_column(name, no_wrap=name in no_wrap, overflow="fold")
    return t


def kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """Key/value pairs under a title, values folded."""
    t = Table(title=title or None, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column("key", style="bold", overflow="fold")
    t.add_column("value", overflow="fold")
    for key, value in rows:
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        t.add_row(escape(str(key)), escape(shown))
    return t


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A notice on stderr (what is being loaded, where a file went); silent under -q."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def scalar_metrics(metrics: dict, limit: int = 4) -> str:
    """The first `limit` numeric metrics, one `key=value` per line (an artifact of unknown kind)."""
    scalars = [(k, v) for k, v in flatten(metrics) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    shown = [f"{k}={short_value(v)}" for k, v in scalars[:limit]]
    return "\n".join(shown + (["…"] if len(scalars) > limit else []))


def key_metrics(kind: str, metrics: dict) -> str:
    """The ladder's key metrics of `kind` that `metrics` has, one `key=value` per line."""
    try:
        keys = rung(kind).key_metrics
    except ConfigError:  # an artifact of a kind this ladder does not declare
        return scalar_metrics(metrics)
    return "\n".join(f"{k}={short_value(metrics[k])}" for k in keys if metrics.get(k) is not None) or scalar_metrics(metrics)


def summary_table(rows: list[dict], title: str) -> Table:
    """The end-of-run table: stage, artifact, built or cached, wall seconds, key metrics."""
    t = table(title, "stage", "artifact", "", "wall s", "key metrics", no_wrap=("stage", "artifact", "", "wall s"))
    for r in rows:
        t.add_row(r["stage"], f"{r['ref']}\n{r['id']}", "cached" if r["cached"] else "built", f"{r['seconds']:.1f}",
                  escape(key_metrics(r["stage"], r["metrics"])))
    return t


def print_summary(rows: list[dict], title: str) -> None:
    """The end-of-run table, or under -q one line per stage."""
    if _quiet:
        for r in rows:
            print(f"{r['stage']:<9} {r['ref']:<14} {r['id']}  {'cached' if r['cached'] else 'built'}")
        return
    console().print(summary_table(rows, title))
