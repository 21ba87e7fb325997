"""Streaming readers for raw inputs that name the file and line of anything they cannot use.

Every raw input enters rungs through these functions: files or folders of any format `rungs.readers`
reads (JSON Lines, Parquet, CSV, text/Markdown, PubMed and MedQuAD XML). Nothing is loaded whole; bad
data raises `InputError(path, message, line)` unless an `on_error` policy records it instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import PROJECT_ROOT, resolve_path
from .errors import InputError
from .hashing import file_sha256
from .readers import (
    SUFFIXES as DOCUMENT_SUFFIXES,  # jsonl parquet csv txt md xml xml.gz
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
        elif suffixes is None or path.name.lower().endswith(suffixes):
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
    return p.name.lower().endswith(suffixes) and p.name.lower() != "readme.md"


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

_LINE_BREAKS = re.compile(r"\r\n|[\r\x85\u2028\u2029]")


def normalize_text(s: str) -> str:
    """NFKC; newlines unified to \\n; within a line, runs of whitespace become one space and none leads
    or trails; at most one blank line in a row; no leading or trailing blank lines.

    Lines are split and joined with str.split (C speed) rather than rewritten by regular expressions:
    corpus cleaning calls this on every document.
    """
    s = unicodedata.normalize("NFKC", s)
    s = _LINE_BREAKS.sub("\n", s)
    out: list[str] = []
    blank = False
    for line in s.split("\n"):
        line = " ".join(line.split())
        if line:
            if blank and out:
                out.append("")
            out.append(line)
            blank = False
        else:
            blank = True
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- documents


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
    """Stream the documents behind `paths` (files or folders of any format in `rungs.readers`), in order.

    Rows (JSONL, CSV, Parquet): one document per row; the text field may be a string or a list of
    strings (joined by newlines); the id comes from `id_field`, else "<file name>:<line>". XML: one
    document per PubMed abstract or MedQuAD answer. Markdown/text: one document per file; id = file
    stem; a Markdown file's leading `# Heading` is its title (else the stem) and is not part of the text.
    Text is returned as read; cleaning is the caller's choice. Bad input raises InputError unless an
    `on_error` policy (rungs.readers.OnError) says otherwise.
    """
    from .readers import Fields, _ignore, _raise, file_documents

    fields = Fields(text_field, id_field, title_field, url_field)
    for path in expand_paths(paths):
        yield from file_documents(path, fields, on_error or _raise, on_bytes or _ignore)


def read_jsonl(path: str | Path, on_error=None) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line of a JSON Lines file, streaming."""
    from .readers import _raise
    from .readers import read_jsonl as read

    return read(Path(path), on_error or _raise)
