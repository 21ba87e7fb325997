"""Streaming readers for raw inputs that name the file and line of anything they cannot use.

Every raw input enters rungs through these functions: JSON Lines rows, Markdown and plain-text files,
or folders of them. Nothing is loaded whole; bad data raises `InputError(path, message, line)`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .config import PROJECT_ROOT, resolve_path
from .errors import InputError
from .hashing import file_sha256

DOCUMENT_SUFFIXES = (".jsonl", ".txt", ".md")


@dataclass(frozen=True)
class Doc:
    """One document: `source` is the file it came from (project-relative when inside the project)."""

    id: str
    source: str
    title: str | None
    url: str | None
    text: str


# ---------------------------------------------------------------------------------------------- paths


def display_path(path: Path) -> str:
    """A stable name for a file: relative to the project when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def expand_paths(paths: Iterable[str | Path], suffixes: tuple[str, ...] | None = DOCUMENT_SUFFIXES) -> list[Path]:
    """The concrete files behind `paths`, in a deterministic order, each once.

    A folder is searched recursively (sorted by relative path) for files with one of `suffixes`
    (any file when None), skipping hidden files and folders and, for document suffixes, README.md.
    A named file must have one of `suffixes` (any when None). A missing path, or a folder without any
    usable file, raises InputError.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = resolve_path(raw)
        if not path.exists():
            raise InputError(raw, f"no such file or folder (looked for {path})")
        if path.is_dir():
            found = sorted(
                (p for p in path.rglob("*") if _usable_in_folder(p, path, suffixes)),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not found:
                kinds = "/".join(suffixes) + " files (README.md is skipped)" if suffixes else "files"
                raise InputError(path, f"folder holds no {kinds}")
        elif suffixes is None or path.suffix.lower() in suffixes:
            found = [path]
        else:
            raise InputError(path, f"unsupported file type {path.suffix or '(none)'!r}; expected {', '.join(suffixes)}")
        for p in found:
            if p not in seen:
                seen.add(p)
                files.append(p)
    return files


def _usable_in_folder(p: Path, root: Path, suffixes: tuple[str, ...] | None) -> bool:
    if any(part.startswith(".") for part in p.relative_to(root).parts) or not p.is_file():
        return False
    if suffixes is None:
        return True
    return p.suffix.lower() in suffixes and p.name.lower() != "readme.md"


def sources_digest(paths: Iterable[str | Path], suffixes: tuple[str, ...] | None = None) -> dict[str, dict]:
    """{file: {"sha256", "bytes"}} for every concrete file behind `paths`, keyed by `display_path`.

    Named files are taken whatever their type; folders are expanded (all non-hidden files unless
    `suffixes` narrows them). Stages pass `sources(cfg)`, already concrete files.
    """
    return {
        display_path(p): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in expand_paths(paths, suffixes)
    }


# ---------------------------------------------------------------------------------------------- text

_SPACES = re.compile(r"[ \t\f\v]+")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
_LINE_BREAKS = re.compile(r"\r\n|[\r\x85\u2028\u2029]")


def normalize_text(s: str) -> str:
    """NFKC; newlines unified to \\n; runs of spaces/tabs collapsed; no trailing spaces; at most one blank
    line in a row; no leading or trailing whitespace."""
    s = unicodedata.normalize("NFKC", s)
    s = _LINE_BREAKS.sub("\n", s)
    s = _SPACES.sub(" ", s)
    s = _TRAILING.sub("\n", s)
    s = _BLANK_RUNS.sub("\n\n", s)
    return s.strip()


# ---------------------------------------------------------------------------------------------- JSONL


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line of a JSON Lines file, streaming."""
    path = Path(path)
    any_rows = False
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from exc
    with fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(path, f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                       "expected one JSON object per line", line=number) from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON: {exc.msg} at column {exc.colno}; "
                                       "expected one JSON object per line", line=number) from exc
            if not isinstance(obj, dict):
                raise InputError(path, f"invalid JSON: found a {_json_type(obj)}, not an object; "
                                       "expected one JSON object per line", line=number)
            any_rows = True
            yield number, obj
    if not any_rows:
        raise InputError(path, "empty file: expected one JSON object per line")


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------- documents


def iter_documents(
    paths: Iterable[str | Path],
    *,
    text_field: str = "text",
    id_field: str = "id",
    title_field: str = "title",
    url_field: str = "url",
) -> Iterator[Doc]:
    """Stream the documents behind `paths` (files or folders of .jsonl/.txt/.md), in a stable order.

    JSONL: one document per row; the text field may be a string or a list of strings (joined by
    newlines); the id comes from `id_field`, else "<file name>:<line>". Markdown/text: one document per
    file; id = file stem; a Markdown file's leading `# Heading` is its title (else the stem) and is not
    part of the text. Text is returned as read; normalising is the caller's choice.
    """
    for path in expand_paths(paths):
        if path.suffix.lower() == ".jsonl":
            yield from _jsonl_documents(path, text_field, id_field, title_field, url_field)
        else:
            yield _file_document(path)


def _jsonl_documents(path: Path, text_field: str, id_field: str, title_field: str, url_field: str) -> Iterator[Doc]:
    source = display_path(path)
    for number, row in read_jsonl(path):
        text = row.get(text_field)
        if isinstance(text, list) and all(isinstance(part, str) for part in text):
            text = "\n".join(text)
        if not isinstance(text, str):
            what = "missing" if text_field not in row else f"a {_json_type(text)}"
            raise InputError(
                path,
                f"text field {text_field!r} is {what}; expected a string or a list of strings "
                f"(fields present: {', '.join(sorted(row)) or 'none'}; choose one with corpus.text_field=...)",
                line=number,
            )
        doc_id = _scalar(row, id_field, path, number) or f"{path.name}:{number}"
        yield Doc(
            id=doc_id,
            source=source,
            title=_scalar(row, title_field, path, number),
            url=_scalar(row, url_field, path, number),
            text=text,
        )


def _scalar(row: dict, field_name: str, path: Path, number: int) -> str | None:
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
    raise InputError(path, f"field {field_name!r} is a {_json_type(value)}; expected a string", line=number)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def _file_document(path: Path) -> Doc:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    title = None
    if path.suffix.lower() == ".md":
        lines = text.splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is not None and (match := _HEADING.match(lines[first])) and match.group(1):
            title = match.group(1)
            text = "\n".join(lines[first + 1:])
    return Doc(id=path.stem, source=display_path(path), title=title or path.stem, url=None, text=text)
