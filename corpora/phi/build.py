"""Build annotated.jsonl from the marked-up notes (notes_*.txt, one file per split).

Markup: a note starts with a line `### id=<id> type=<type>`; an identifier is written
`[[KIND|text]]` inline. The output rows hold the plain text and the character offsets of every span:

    {"id": "dev-01", "split": "dev", "type": "discharge_summary", "text": "...",
     "spans": [{"start": 9, "end": 27, "kind": "NAME", "text": "Harold J. Whitaker"}, ...]}

Run from the project root: `python corpora/phi/build.py` (tests/test_phi.py checks that the
committed annotated.jsonl equals what this script produces).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = {
    "dev": HERE / "notes_dev.txt",
    "dev2": HERE / "notes_dev2.txt",
    "dev3": HERE / "notes_dev3.txt",
    "test": HERE / "notes_test.txt",
    "test2": HERE / "notes_test2.txt",
    "test3": HERE / "notes_test3.txt",
    "dev4": HERE / "notes_dev4.txt",
    "test4": HERE / "notes_test4.txt",
    "test5": HERE / "notes_test5.txt",
    "test6": HERE / "notes_test6.txt",
    "test7": HERE / "notes_test7.txt",
    "test8": HERE / "notes_test8.txt",
    "test9": HERE / "notes_test9.txt",
    "test10": HERE / "notes_test10.txt",
    "test11": HERE / "notes_test11.txt",
    "test12": HERE / "notes_test12.txt",
    "test13": HERE / "notes_test13.txt",
}
OUT = HERE / "annotated.jsonl"
_HEADER = re.compile(r"^### id=(\S+) type=(\S+)\s*$")
_MARK = re.compile(r"\[\[([A-Z_]+)\|([^\[\]|]+)\]\]")


def parse_note(markup: str) -> tuple[str, list[dict]]:
    """Plain text and spans of one marked-up note."""
    out: list[str] = []
    spans: list[dict] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(markup):
        before = markup[pos : m.start()]
        if "[[" in before or "]]" in before:
            raise ValueError(f"malformed markup near: {before[-60:]!r}")
        out.append(before)
        length += len(before)
        kind, value = m.group(1), m.group(2)
        spans.append({"start": length, "end": length + len(value), "kind": kind, "text": value})
        out.append(value)
        length += len(value)
        pos = m.end()
    rest = markup[pos:]
    if "[[" in rest or "]]" in rest:
        raise ValueError(f"malformed markup near: {rest[:60]!r}")
    out.append(rest)
    return "".join(out), spans


def read_source(split: str, path: Path) -> list[dict]:
    rows: list[dict] = []
    current: dict | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            text, spans = parse_note("\n".join(lines).strip("\n"))
            rows.append({**current, "text": text, "spans": spans})

    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADER.match(line)
        if m:
            flush()
            current = {"id": m.group(1), "split": split, "type": m.group(2)}
            lines = []
        else:
            lines.append(line)
    flush()
    return rows


def build() -> list[dict]:
    return [row for split, path in SOURCES.items() for row in read_source(split, path)]


def main() -> int:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    for split in SOURCES:
        part = [r for r in rows if r["split"] == split]
        print(f"{split}: {len(part)} notes, {sum(len(r['spans']) for r in part)} spans")
    return 0


if __name__ == "__main__":
    sys.exit(main())
