"""Documents: what the corpus and the evaluation read from raw files, one `Doc` per row or text file.

`iter_documents(paths)` streams the documents behind files or folders of any format rungs reads
(rungs.curation._formats); each keeps the file it came from and the line it starts on, so every later
report can point back at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rungs.kernel import display_path

from ._files import expand_paths
from ._formats import (
    BytesFn,
    OnErrorFn,
    RowError,
    format_of,
    ignore_bytes,
    iter_rows,
    json_type,
    parquet_columns,
    raise_error,
    read_parquet,
    read_text_file,
)


@dataclass(frozen=True)
class Doc:
    """One document: `source` is the file it came from (project-relative when inside the project)."""

    id: str
    source: str
    title: str | None
    url: str | None
    text: str
    line: int | None = None  # where the document starts in its file (row number for Parquet)


@dataclass(frozen=True)
class Fields:
    """Which row fields make a document (JSONL, CSV and Parquet; XML rows use these names natively)."""

    text: str = "text"
    id: str = "id"
    title: str = "title"
    url: str = "url"

    def columns(self) -> list[str]:
        return [self.text, self.id, self.title, self.url]


NATIVE = Fields()


# ---------------------------------------------------------------------------------------------- documents


def file_documents(path: Path, fields: Fields = NATIVE, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes):
    """The documents of one file, in file order: one per row (JSONL/CSV/Parquet/XML) or the whole file
    (.txt/.md). A row whose text field is missing or not text goes to `on_error` as missing_field."""
    kind = format_of(path)
    source = display_path(path)
    if kind == "text":
        text = read_text_file(path, on_error, on_bytes)
        if text is not None:
            title, body = markdown_title(path, text)
            yield Doc(id=path.stem, source=source, title=title or path.stem, url=None, text=body, line=1)
        return
    f = NATIVE if kind == "xml" else fields
    if kind == "parquet":
        import pyarrow as pa

        try:
            names = parquet_columns(path)
        except (pa.ArrowException, OSError):  # unreadable: read_parquet reports it with the reason
            names = None
        if names is not None and f.text not in names:
            on_error(RowError(path, f"column {f.text!r} missing (columns: {', '.join(names)}); "
                                    "choose one with corpus.text_field=...", kind="missing_field"))
            return
        rows = read_parquet(path, on_error, on_bytes, columns=f.columns())
    else:
        rows = iter_rows(path, on_error, on_bytes)
    first = True
    for line, row in rows:
        if first and kind == "csv" and f.text not in row:
            on_error(RowError(path, f"column {f.text!r} missing (header: {', '.join(row)}); "
                                    "choose one with corpus.text_field=...", line=1, kind="missing_field"))
            return
        first = False
        try:
            yield row_document(row, f, path, source, line)
        except RowError as exc:
            on_error(exc)


def row_document(row: dict, f: Fields, path: Path, source: str, line: int):
    text = row.get(f.text)
    if isinstance(text, list) and all(isinstance(part, str) for part in text):
        text = "\n".join(text)
    if not isinstance(text, str):
        what = "missing" if f.text not in row else f"a {json_type(text)}"
        raise RowError(
            path,
            f"text field {f.text!r} is {what}; expected a string or a list of strings "
            f"(fields present: {', '.join(sorted(row)) or 'none'}; choose one with corpus.text_field=...)",
            line=line,
            kind="missing_field",
        )
    doc_id = scalar(row, f.id, path, line) or f"{path.name}:{line}"
    return Doc(id=doc_id, source=source, title=scalar(row, f.title, path, line),
               url=scalar(row, f.url, path, line), text=text, line=line)


def scalar(row: dict, field_name: str, path: Path, line: int) -> str | None:
    """A string-valued optional field: strings and numbers as text, lists of strings joined; None if absent."""
    value = row.get(field_name)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(v.strip() for v in value if v.strip()) or None
    raise RowError(path, f"field {field_name!r} is a {json_type(value)}; expected a string", line=line, kind="missing_field")


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def markdown_title(path: Path, text: str) -> tuple[str | None, str]:
    """A Markdown file's leading `# Heading` as its title, and the text without it."""
    if path.suffix.lower() != ".md":
        return None, text
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and (match := _HEADING.match(lines[first])) and match.group(1):
        return match.group(1), "\n".join(lines[first + 1:])
    return None, text


def iter_documents(
    paths: Iterable[str | Path],
    *,
    text_field: str = "text",
    id_field: str = "id",
    title_field: str = "title",
    url_field: str = "url",
    on_error=None,
    on_bytes=None,
) -> Iterator[Doc]:
    """Stream the documents behind `paths` (files or folders of any format rungs reads), in order.

    Rows (JSONL, CSV, Parquet): one document per row; the text field may be a string or a list of
    strings (joined by newlines); the id comes from `id_field`, else "<file name>:<line>". XML: one
    document per PubMed abstract or MedQuAD answer. Markdown/text: one document per file; id = file
    stem; a Markdown file's leading `# Heading` is its title (else the stem) and is not part of the text.
    Text is returned as read; cleaning is the caller's choice. Bad input raises InputError unless an
    `on_error` policy (OnError) says otherwise.
    """
    fields = Fields(text_field, id_field, title_field, url_field)
    for path in expand_paths(paths):
        yield from file_documents(path, fields, on_error or raise_error, on_bytes or ignore_bytes)
