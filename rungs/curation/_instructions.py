"""Instruction builders: MedQuAD-style question/answer rows and MTS-Dialog dialogues -> chat records.

Any row format rungs reads works (JSONL, CSV, Parquet, MedQuAD XML); `conversation` (rungs.curation._conversations)
decides the row shape (messages list, `Speaker: words` dialogue, or question/answer pair) so the sft
stage and these builders agree on every record. A bad row goes to the corpus `on_error` policy with its
file and line. Clinical sources (kind: clinical_notes, e.g. MTS-Dialog) are PHI-scrubbed turn by turn
before a record is written.

A record: {"id", "source", "line", "messages": [{role, content}, ...]}.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rungs.kernel import InputError, display_path

from ._conversations import conversation, scrub_messages
from ._files import expand_paths
from ._formats import OnErrorFn, RowError, format_of, ignore_bytes, iter_rows, raise_error
from ._phi import scrub


def records(path: Path, s, *, native_xml: bool = True, on_error: OnErrorFn = raise_error, on_bytes=ignore_bytes,
            scrub=None, phi: Counter | None = None) -> Iterator[dict]:
    """Chat records of one file. `s` carries the field names and speakers (an SftConfig); MedQuAD XML
    rows have fixed `question`/`answer` fields. `scrub` (the PHI scrubber) de-identifies every turn."""
    if native_xml and format_of(path) == "xml":
        s = dataclasses.replace(s, question_field="question", answer_field="answer")
    source = display_path(path)
    for line, row in iter_rows(path, on_error, on_bytes):
        try:
            messages = conversation(row, s, path, line)
        except InputError as exc:
            on_error(RowError(exc.path, exc.message, exc.line, kind="missing_field"))
            continue
        if scrub is not None:
            messages = scrub_messages(messages, scrub, phi)
        row_id = row.get("id")
        yield {"id": str(row_id) if row_id is not None else f"{path.name}:{line}", "source": source, "line": line,
               "messages": messages}


def write_records(cfg, out: Path, on_error: OnErrorFn, report, progress, scrubber=scrub) -> dict:
    """corpus.instructions -> `out` (JSON Lines), counted in the corpus report; returns metrics. `scrubber`
    de-identifies the rows that need it (the rules, or the rules and a learned recogniser)."""
    c = cfg.corpus
    phi: Counter = Counter()
    per_source: dict[str, int] = {}
    n = 0
    files = [(spec, path) for spec in c.instructions for path in expand_paths([spec.path])]
    bar = progress(total=sum(p.stat().st_size for _, p in files), unit="B", unit_scale=True, unit_divisor=1024,
                   desc="corpus: instructions")
    try:
        with open(out, "w", encoding="utf-8") as fh:
            for spec, path in files:
                kind = spec.kind or "documents"
                deidentify = spec.deidentify if spec.deidentify is not None else kind == "clinical_notes"
                s = dataclasses.replace(
                    cfg.sft,
                    question_field=spec.question_field or cfg.sft.question_field,
                    answer_field=spec.answer_field or cfg.sft.answer_field,
                    dialogue_field=spec.dialogue_field or cfg.sft.dialogue_field,
                    system_prompt="",  # the sft stage adds its own system prompt
                )
                for record in records(path, s, on_error=on_error, on_bytes=bar.update, scrub=scrubber if deidentify else None, phi=phi):
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    n += 1
                    per_source[record["source"]] = per_source.get(record["source"], 0) + 1
    finally:
        bar.close()
    report.instructions = {"records": n, "sources": sorted(per_source), "per_source": per_source,
                           "phi_spans": sum(phi.values()), "phi_by_kind": dict(sorted(phi.items()))}
    return {"instruction_records": n}
