"""Streaming readers for every raw-text format, with one error policy that names file, line and reason.

Formats (chosen by file name): JSON Lines (`.jsonl`), Parquet (`.parquet`), CSV (`.csv`), plain text and
Markdown (`.txt`, `.md`, one document per file), and XML (`.xml`, `.xml.gz`) sniffed by its root element:
PubMed/MEDLINE (`<PubmedArticleSet>`, `<MedlineCitationSet>`; one document per article abstract) or MedQuAD
(`<Document>`; one row per question/answer pair).

Nothing is read whole except a single .txt/.md document: JSONL and CSV go line by line, Parquet by record
batch (pyarrow), XML through expat in 1 MiB chunks, keeping only the current record's elements.

Bad input goes to an `on_error` callable: `OnError("fail")` (the default) raises the `RowError`, which
names the file, the line (rows for Parquet) and what was expected; `OnError("skip")` records it and the
reader goes on with the next row (or, when the rest of a file cannot be read, the next file). Every
reader reports the bytes it consumed through `on_bytes`, so a progress bar can show MB of the corpus.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.parsers import expat

from rungs.kernel import ConfigError, InputError

SUFFIXES = (".jsonl", ".parquet", ".csv", ".txt", ".md", ".xml", ".xml.gz")  # every format a folder is searched for
PROBLEM_KINDS = ("malformed", "encoding", "empty", "missing_field", "binary")
SNIFF_BYTES = 8192  # a NUL in the first 8 KiB marks a binary file (what git and grep look at too)
XML_CHUNK = 1 << 20
# Real documents can exceed csv's default 128 KiB field limit; 1 GiB still stops a runaway quote.
csv.field_size_limit(1 << 30)


class RowError(InputError):
    """Bad input of a known kind (one of PROBLEM_KINDS), at a file and (where known) a line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, kind: str = "malformed"):
        super().__init__(path, message, line)
        self.kind = kind


OnErrorFn = Callable[[InputError], None]
BytesFn = Callable[[int], None]


def raise_error(error: InputError) -> None:
    raise error


def ignore_bytes(_: int) -> None:
    pass


class OnError:
    """`corpus.on_error`: fail stops at the first bad row; skip records every bad row and goes on.

    Every skipped row is written to `log` (JSON Lines: file, line, kind, reason) as it happens, so the
    full list costs no memory; the first `keep` stay in `rows` for the report.
    """

    def __init__(self, mode: str = "fail", log: Path | None = None, keep: int = 1000):
        if mode not in ("fail", "skip"):
            raise ConfigError(f"corpus.on_error={mode!r}: expected 'fail' or 'skip'")
        self.mode = mode
        self.keep = keep
        self.count = 0
        self.by_kind: Counter = Counter()
        self.rows: list[dict] = []
        # open for the whole read, closed by close(): rows are appended as they are skipped
        self._log = open(log, "w", encoding="utf-8") if log is not None else None  # noqa: SIM115

    def __call__(self, error: InputError) -> None:
        if self.mode == "fail":
            raise error
        kind = getattr(error, "kind", "malformed")
        row = {"file": error.path, "line": error.line, "kind": kind, "reason": error.message}
        self.count += 1
        self.by_kind[kind] += 1
        if len(self.rows) < self.keep:
            self.rows.append(row)
        if self._log is not None:
            self._log.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------------------------------------- dispatch


def format_of(path: Path) -> str:
    """jsonl | parquet | csv | text | xml, from the file name."""
    name = path.name.lower()
    for suffix, kind in ((".jsonl", "jsonl"), (".parquet", "parquet"), (".csv", "csv"), (".txt", "text"),
                         (".md", "text"), (".xml", "xml"), (".xml.gz", "xml")):
        if name.endswith(suffix):
            return kind
    raise InputError(path, f"unsupported file type {path.suffix or '(none)'!r}; expected {', '.join(SUFFIXES)}")


def iter_rows(path: Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes) -> Iterator[tuple[int, dict]]:
    """(line, row) for the row formats: JSONL, CSV, Parquet (row number), XML (the record's first line).

    XML rows carry fixed fields: PubMed `id, title, url, text`; MedQuAD `id, title (the focus), url,
    question, answer, qtype, text (= answer)`.
    """
    kind = format_of(path)
    if kind == "jsonl":
        yield from read_jsonl(path, on_error, on_bytes)
    elif kind == "csv":
        yield from read_csv(path, on_error, on_bytes)
    elif kind == "parquet":
        yield from read_parquet(path, on_error, on_bytes)
    elif kind == "xml":
        yield from read_xml(path, on_error, on_bytes)
    else:
        raise InputError(path, "a text file is one document, not a table of rows; expected .jsonl, .csv, .parquet or .xml")


def _check_head(path: Path, head: bytes, on_error: OnErrorFn) -> bool:
    """False (after reporting) when the first bytes show a binary or UTF-16/32 file, or nothing at all."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        on_error(RowError(path, "UTF-16/32 text (byte-order mark); expected UTF-8 "
                                "(convert it, e.g. iconv -f UTF-16 -t UTF-8)", line=1, kind="encoding"))
        return False
    if b"\x00" in head[:SNIFF_BYTES]:
        before = head[: head.index(b"\x00")]
        try:  # text up to a NUL: a damaged text file, worth a line number; else a binary file as a whole
            before.decode("utf-8")
            line = before.count(b"\n") + 1
        except UnicodeDecodeError:
            line = None
        on_error(RowError(path, "binary file (NUL byte in the first 8 KiB); expected UTF-8 text", line=line, kind="binary"))
        return False
    if not head.strip():
        on_error(RowError(path, "empty file: expected at least one document", kind="empty"))
        return False
    return True


def _open(path: Path, on_error: OnErrorFn):
    try:
        return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    except OSError as exc:
        on_error(RowError(path, f"cannot open: {exc.strerror or exc}", kind="malformed"))
        return None


def _head(fh, path: Path) -> bytes:
    try:
        return fh.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(fh, "peek") else b""
    except (OSError, EOFError) as exc:  # a .gz that is not gzip
        raise RowError(path, f"cannot read: {exc}", kind="binary") from exc


@contextmanager
def _sniffed(path: Path, on_error: OnErrorFn) -> Iterator[tuple]:
    """(file opened in binary, its first bytes); (None, b"") after reporting when it cannot be opened,
    cannot be read, or its first bytes show a binary, UTF-16/32 or empty file."""
    fh = _open(path, on_error)
    if fh is None:
        yield None, b""
        return
    with fh:
        try:
            head = _head(fh, path)
        except RowError as exc:
            on_error(exc)
            yield None, b""
            return
        yield (fh, head) if _check_head(path, head, on_error) else (None, b"")


# ---------------------------------------------------------------------------------------------- JSONL


def read_jsonl(path: str | Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line of a JSON Lines file, streaming."""
    path = Path(path)
    any_rows = False
    with _sniffed(path, on_error) as (fh, _):
        if fh is None:
            return
        bad = 0
        for number, raw in enumerate(fh, start=1):
            on_bytes(len(raw))
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                bad += 1
                on_error(RowError(path, f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                        "expected one JSON object per line", line=number, kind="encoding"))
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad += 1
                on_error(RowError(path, f"invalid JSON: {exc.msg} at column {exc.colno}; "
                                        "expected one JSON object per line", line=number))
                continue
            if not isinstance(obj, dict):
                bad += 1
                on_error(RowError(path, f"invalid JSON: found a {json_type(obj)}, not an object; "
                                        "expected one JSON object per line", line=number))
                continue
            any_rows = True
            yield number, obj
    if not any_rows and not bad:
        on_error(RowError(path, "empty file: expected one JSON object per line", kind="empty"))


def json_type(value) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null", dict: "object"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------- CSV


def read_csv(path: Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes) -> Iterator[tuple[int, dict]]:
    """(line, {column: value}) per record; the first record is the header."""
    with _sniffed(path, on_error) as (fh, _):
        if fh is None:
            return
        where = {"line": 0}

        def lines() -> Iterator[str]:
            for number, raw in enumerate(fh, start=1):
                where["line"] = number
                on_bytes(len(raw))
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    on_error(RowError(path, f"not UTF-8 ({exc.reason} at byte {exc.start} of the line); "
                                            "expected UTF-8 CSV", line=number, kind="encoding"))

        reader = csv.reader(lines())
        header: list[str] | None = None
        any_rows = False
        while True:
            start = where["line"] + 1  # a quoted field may span lines: a row is named by its first line
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                on_error(RowError(path, f"malformed CSV: {exc}; the rest of the file is not read", line=where["line"]))
                return
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header is None:
                header = [h.strip() for h in record]
                continue
            if len(record) != len(header):
                on_error(RowError(path, f"malformed CSV row: {len(record)} field(s), the header has {len(header)}",
                                  line=start))
                continue
            any_rows = True
            yield start, dict(zip(header, record))
        if not any_rows:
            on_error(RowError(path, "empty CSV: expected a header line and at least one row", kind="empty"))


# ---------------------------------------------------------------------------------------------- Parquet


def read_parquet(path: Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes,
                 columns: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(row number, row) per row, one record batch (<= 1024 rows) in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        kind = "empty" if path.stat().st_size == 0 else "binary"
        on_error(RowError(path, f"not a readable Parquet file ({exc})", kind=kind))
        return
    names = pf.schema_arrow.names
    wanted = [c for c in columns if c in names] if columns else None
    if pf.metadata.num_rows == 0:
        on_error(RowError(path, "empty Parquet file: no rows", kind="empty"))
        return
    size = path.stat().st_size
    total = pf.metadata.num_rows
    number = 0
    try:
        for batch in pf.iter_batches(batch_size=1024, columns=wanted):
            on_bytes(size * batch.num_rows // total)
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except (pa.ArrowException, OSError) as exc:
        on_error(RowError(path, f"corrupt Parquet data after row {number} ({exc}); the rest of the file is not read",
                          line=number + 1))


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).schema_arrow.names


# ---------------------------------------------------------------------------------------------- XML

PUBMED_ROOTS = {"PubmedArticleSet": ("PubmedArticle", "PubmedBookArticle"), "MedlineCitationSet": ("MedlineCitation",)}
MEDQUAD_ROOT = "Document"
_LINE_ATTR = "{rungs}line"  # the line a record (or a MedQuAD QAPair) starts on, kept on the element
_DECLARED = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def read_xml(path: Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes) -> Iterator[tuple[int, dict]]:
    """Rows of a PubMed/MEDLINE or MedQuAD XML file, sniffed by its root element."""
    for line, root, element in _xml_records(path, on_error, on_bytes):
        if root == MEDQUAD_ROOT:
            yield from _medquad_rows(path, element, on_error)
        else:
            row = _pubmed_row(path, line, element, on_error)
            if row is not None:
                yield line, row


def _xml_records(path: Path, on_error: OnErrorFn, on_bytes: BytesFn) -> Iterator[tuple[int, str, ET.Element]]:
    """(line, root tag, element) per record, parsed by expat in chunks; only one record is held at a time."""
    with _sniffed(path, on_error) as (fh, head):
        if fh is None:
            return
        declared = _DECLARED.search(head[:512])
        check_utf8 = declared is None or declared.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8")
        decoder = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
        parser = expat.ParserCreate()
        parser.buffer_text = True
        state = {"root": None, "builder": None, "depth": 0, "records": 0}
        ready: list[tuple[int, str, ET.Element]] = []
        problem: list[RowError] = []

        def start(name, attrs):
            if state["root"] is None:
                state["root"] = name
                if name != MEDQUAD_ROOT and name not in PUBMED_ROOTS:
                    problem.append(RowError(path, f"unsupported XML: root element <{name}>; expected <PubmedArticleSet> "
                                                  "or <MedlineCitationSet> (PubMed/MEDLINE) or <Document> (MedQuAD)",
                                            line=parser.CurrentLineNumber))
                    raise _Stop
            root = state["root"]
            builder = state["builder"]
            if builder is None and (name == root if root == MEDQUAD_ROOT else name in PUBMED_ROOTS[root]):
                builder = state["builder"] = ET.TreeBuilder()
                state["depth"] = 0
            if builder is not None:
                element = builder.start(name, attrs)
                if state["depth"] == 0 or name == "QAPair":
                    element.set(_LINE_ATTR, str(parser.CurrentLineNumber))
                state["depth"] += 1

        def end(name):
            builder = state["builder"]
            if builder is not None:
                builder.end(name)
                state["depth"] -= 1
                if state["depth"] == 0:
                    element = builder.close()
                    state["builder"] = None
                    state["records"] += 1
                    ready.append((int(element.get(_LINE_ATTR)), state["root"], element))

        def data(text):
            if state["builder"] is not None:
                state["builder"].data(text)

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        lines_before = 1
        while True:
            chunk = fh.read(XML_CHUNK)
            on_bytes(len(chunk))
            try:
                if decoder is not None:
                    try:
                        decoder.decode(chunk, final=not chunk)
                    except UnicodeDecodeError as exc:
                        line = lines_before + chunk[: exc.start].count(b"\n")
                        on_error(RowError(path, f"not UTF-8 ({exc.reason}) although the XML declares UTF-8; "
                                                "the rest of the file is not read", line=line, kind="encoding"))
                        return
                parser.Parse(chunk, not chunk)
            except _Stop:
                on_error(problem[0])
                return
            except expat.ExpatError as exc:
                yield from ready
                on_error(RowError(path, f"malformed XML: {expat.errors.messages[exc.code]} at column {exc.offset + 1}; "
                                        "the rest of the file is not read", line=exc.lineno))
                return
            lines_before += chunk.count(b"\n")
            yield from ready
            ready.clear()
            if not chunk:
                break
        if state["records"] == 0:
            what = "<QAPair> in a <Document>" if state["root"] == MEDQUAD_ROOT else "<PubmedArticle>"
            on_error(RowError(path, f"no record in the XML file: expected at least one {what}", kind="empty"))


class _Stop(Exception):
    pass


def _text(element: ET.Element | None) -> str:
    """All text inside an element (inline markup such as <i> or <sup> flattened), stripped."""
    return "".join(element.itertext()).strip() if element is not None else ""


def _pubmed_row(path: Path, line: int, article: ET.Element, on_error: OnErrorFn) -> dict | None:
    pmid = _text(article.find(".//PMID"))
    if not pmid:
        on_error(RowError(path, "article without a <PMID>; expected MEDLINE citation XML", line=line, kind="missing_field"))
        return None
    title = _text(article.find(".//ArticleTitle")) or _text(article.find(".//BookTitle"))
    parts = []
    for node in article.findall(".//Abstract/AbstractText"):
        text = _text(node)
        label = node.get("Label")
        if text:
            parts.append(f"{label.strip().capitalize()}: {text}" if label and label.strip() else text)
    # an article without an abstract is valid MEDLINE: it reaches cleaning with no text and is counted there
    return {"id": pmid, "title": title or None, "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", "text": "\n".join(parts)}


def _medquad_rows(path: Path, document: ET.Element, on_error: OnErrorFn) -> Iterator[tuple[int, dict]]:
    doc_id = document.get("id") or path.stem
    focus = _text(document.find("Focus")) or None
    pairs = document.findall("./QAPairs/QAPair")
    if not pairs:
        on_error(RowError(path, "MedQuAD <Document> without <QAPairs>/<QAPair>", line=int(document.get(_LINE_ATTR)),
                          kind="empty"))
    for pair in pairs:
        line = int(pair.get(_LINE_ATTR))
        question, answer = pair.find("Question"), pair.find("Answer")
        missing = [name for name, node in (("Question", question), ("Answer", answer)) if node is None]
        if missing:
            on_error(RowError(path, f"<QAPair> without <{'> and <'.join(missing)}>; expected a Question and an Answer",
                              line=line, kind="missing_field"))
            continue
        qid = question.get("qid") or f"{doc_id}-{pair.get('pid') or line}"
        text = _text(answer)
        yield line, {"id": qid, "title": focus, "url": document.get("url"), "source_name": document.get("source"),
                     "qtype": question.get("qtype"), "question": _text(question), "answer": text, "text": text}


# ---------------------------------------------------------------------------------------------- text files


def read_text_file(path: Path, on_error: OnErrorFn = raise_error, on_bytes: BytesFn = ignore_bytes) -> str | None:
    """A whole .txt/.md file as text (one document), or None after reporting why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        on_error(RowError(path, f"cannot open: {exc.strerror or exc}"))
        return None
    on_bytes(len(data))
    if not _check_head(path, data[:SNIFF_BYTES], on_error):
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        on_error(RowError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})", line=line, kind="encoding"))
        return None
