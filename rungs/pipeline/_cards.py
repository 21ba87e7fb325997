"""Each built or reused stage's Markdown card, as the flow publishes it (the `<stage>-metrics` Prefect artifact)."""

from __future__ import annotations

from pathlib import Path

from rungs.kernel import short_value


def metrics_markdown(row: dict) -> str:
    """Which artifact, built or reused, its own report (evaluate: tables with intervals and sample answers)
    when it wrote one, then every metric."""
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
    lines += [f"| {k} | {short_value(v)} |" for k, v in row["metrics"].items()]
    return "\n".join(lines) + "\n"
