"""What people read: the end-of-run table and each stage's Markdown metrics card."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from rich.table import Table

KEY_METRICS = {
    "corpus": ("documents_kept", "train_blocks", "heldout_blocks"),
    "base": ("parameters", "vocab_size"),
    "cpt": ("train_loss_first", "train_loss_final", "train_tokens_per_s"),
    "sft": ("train_loss_first", "train_loss_final", "examples"),
    "index": ("chunks", "dim", "index_type"),
    "evaluate": (
        "domain_independent_ppl_base", "domain_independent_ppl_cpt", "general_independent_ppl_base",
        "general_independent_ppl_cpt", "answer_nll_base", "answer_nll_sft", "retrieval_recall@5",
        "answers_base_citation_accuracy", "answers_sft_citation_accuracy", "answers_sft_grounded",
        "answers_sft_degenerate", "answers_sft_escalated",
    ),
}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def key_metrics(kind: str, metrics: dict) -> str:
    keys = KEY_METRICS.get(kind, ())
    return "  ".join(f"{k}={_fmt(metrics[k])}" for k in keys if metrics.get(k) is not None)


def summary_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("stage", "artifact", "", "wall s", "key metrics"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["stage"], f"{r['ref']}  {r['id']}", "cached" if r["cached"] else "built", f"{r['seconds']:.1f}", key_metrics(r["stage"], r["metrics"]))
    return table


def print_summary(rows: list[dict], title: str, console: Console | None = None) -> None:
    (console or Console()).print(summary_table(rows, title))


def metrics_markdown(row: dict) -> str:
    """A stage's card in the Prefect UI: which artifact, built or reused, its own report (evaluate: tables
    with intervals and sample answers) when it wrote one, then every metric."""
    lines = [
        f"## {row['stage']} — `{row['ref']}` (`{row['id']}`)",
        "",
        f"{'Reused from the store (same fingerprint)' if row['cached'] else 'Built'} in {row['seconds']:.1f} s.",
        "",
    ]
    report = Path(row["path"]) / "report.md" if row.get("path") else None
    if report is not None and report.is_file() and row["stage"] == "evaluate":
        lines += [report.read_text(), ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in row["metrics"].items()]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, heading: str, text: str) -> None:
    """Write `text` (which starts with `heading`, a `## ` line) over that section of a Markdown file such as
    bench/RESULTS.md, keeping every other section; append it when the file has no such section yet."""
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    new = pattern.sub(lambda _: text + "\n", old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
