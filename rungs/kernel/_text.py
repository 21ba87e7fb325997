"""Small text helpers every room shares: timestamps, sizes, durations, dotted keys, "did you mean", Markdown sections."""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def utc_now() -> str:
    """Now, as the store and its logs write times: ISO 8601, seconds, UTC, with a trailing Z."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def human_bytes(n: Any) -> str:
    """1536 -> "1.5 KB"; anything that is not a number is shown as it is."""
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return str(n)
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_duration(seconds: Any) -> str:
    """12.3 -> "12.3 s", 754 -> "12 min 34 s", 7260 -> "2 h 01 min"; "-" when unknown."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def short_value(value: Any) -> str:
    """A value in a table cell: floats to 4 significant digits, structures as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, leaf) pairs; lists stay leaves."""
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data)] if prefix else []


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean cpt.lr?)" for the closest of `choices`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def replace_section(path: Path, heading: str, text: str) -> None:
    """Write `text` (which starts with `heading`, a `## ` line) over that section of a Markdown file such as
    bench/RESULTS.md, keeping every other section; append it when the file has no such section yet."""
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    new = pattern.sub(lambda _: text + "\n", old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
