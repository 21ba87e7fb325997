"""Every input format, and every kind of bad input under corpus.on_error=fail and =skip."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rungs.curation import Fields, OnError, RowError, expand_paths, file_documents, iter_documents, read_csv
from rungs.kernel import ConfigError

DATA = Path(__file__).parent / "data"


def docs(path: Path, fields: Fields | None = None, on_error=None) -> list:
    return list(file_documents(path, fields or Fields(), on_error or OnError("fail")))


# ---------------------------------------------------------------------------------------------- formats


def test_pubmed_xml_articles_become_abstract_documents():
    found = docs(DATA / "pubmed_sample.xml")
    assert [d.id for d in found] == ["31004021", "30877412", "29555001"]
    first = found[0]
    assert first.title.startswith("Inhaler technique errors") and first.url == "https://pubmed.ncbi.nlm.nih.gov/31004021/"
    assert first.text.splitlines()[0].startswith("Background: Incorrect inhaler technique")
    assert first.text.splitlines()[-1].startswith("Conclusions: Checking")
    assert first.line == 4 and found[1].line == 27
    assert "Helicobacter pylori eradication" in found[1].title  # inline <i> markup flattened
    assert found[2].text == ""  # no abstract: counted and dropped by cleaning, not an error


def test_medquad_xml_pairs_become_answer_documents():
    found = docs(DATA / "medquad_sample.xml")
    assert [d.id for d in found] == ["0000123-1", "0000123-2", "0000123-3"]
    assert {d.title for d in found} == {"Shingles"} and found[0].url == "https://medlineplus.gov/shingles.html"
    assert found[1].text.startswith("Early signs of shingles") and found[1].line == 12


def test_csv_with_quoted_multiline_fields(tmp_path):
    found = docs(DATA / "guidelines.csv")
    assert [(d.id, d.line) for d in found] == [("gl-001", 2), ("gl-002", 4), ("gl-003", 5)]
    assert found[0].text.count("\n") == 1 and found[2].title == "Asthma: diagnosis, monitoring and management"


def test_parquet_streams_in_batches_with_row_numbers(tmp_path):
    path = tmp_path / "notes.parquet"
    rows = [{"key": f"n{i}", "body": f"Document number {i} about blood pressure."} for i in range(2500)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=1000)
    found = docs(path, Fields(text="body", id="key"))
    assert len(found) == 2500 and found[0].id == "n0" and found[-1].line == 2500
    assert found[1234].text == rows[1234]["body"]


def test_jsonl_fields_text_and_markdown_in_a_folder(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "q1", "answer": "Rest and fluids.", "question": "Flu?"}) + "\n")
    (folder / "b.md").write_text("# Gout\n\nGout is a painful arthritis.\n")
    (folder / "c.txt").write_text("Plain text document.")
    (folder / "d.xml").write_bytes((DATA / "medquad_sample.xml").read_bytes())
    found = list(iter_documents([folder], text_field="answer"))
    assert [d.id for d in found] == ["q1", "b", "c", "0000123-1", "0000123-2", "0000123-3"]
    assert found[1].title == "Gout" and found[1].text.strip() == "Gout is a painful arthritis."
    assert len(expand_paths([folder])) == 4


# ---------------------------------------------------------------------------------------------- bad input

LATIN1 = "Caf\xe9 au lait spots".encode("latin-1")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
GOOD = json.dumps({"id": "ok", "text": "A usable document about asthma."}) + "\n"

# kind, file name, bytes, line named, words in the reason, documents still read under skip
CASES = [
    ("malformed", "rows.jsonl", (GOOD + '{"text": "unterminated\n' + GOOD).encode(), 2, "invalid JSON", 2),
    ("malformed", "rows.csv", b"id,text\na,first row\nb,second,extra\nc,third row\n", 3, "3 field(s), the header has 2", 2),
    ("malformed", "set.xml", b"<PubmedArticleSet><PubmedArticle><PMID>1</PMID>\n<Abstract></PubmedArticle>", 2,
     "malformed XML", 0),
    ("encoding", "rows.jsonl", GOOD.encode() + b'{"text": "' + LATIN1 + b'"}\n', 2, "not UTF-8", 1),
    ("encoding", "page.txt", b"Line one is fine.\nLine two: " + LATIN1 + b"\n", 2, "not UTF-8", 0),
    ("encoding", "wide.jsonl", GOOD.encode("utf-16"), 1, "UTF-16", 0),
    ("encoding", "rows.csv", b"id,text\na,fine row\nb," + LATIN1 + b"\n", 3, "not UTF-8", 1),
    ("empty", "none.jsonl", b"\n\n", None, "empty file", 0),
    ("empty", "none.txt", b"", None, "empty file", 0),
    ("empty", "header.csv", b"id,text\n", None, "empty CSV", 0),
    ("empty", "none.xml", b"<?xml version='1.0'?>\n<PubmedArticleSet>\n</PubmedArticleSet>\n", None, "no record", 0),
    ("missing_field", "rows.jsonl", (GOOD + json.dumps({"id": "x", "body": "wrong field"}) + "\n").encode(), 2,
     "text field 'text' is missing", 1),
    ("missing_field", "cols.csv", b"id,body\na,some text\n", 1, "column 'text' missing", 0),
    ("missing_field", "qa.xml", (b"<Document id='1'><QAPairs>\n<QAPair pid='1'><Question qid='1-1'>Why?</Question>"
                                b"</QAPair></QAPairs></Document>"), 2, "without <Answer>", 0),
    ("binary", "scan.txt", PNG, None, "binary file", 0),
    ("binary", "rows.jsonl", GOOD.encode() + b"\x00\x01\x02garbage\n", 2, "binary file", 0),
    ("binary", "table.parquet", PNG, None, "not a readable Parquet file", 0),
]


@pytest.mark.parametrize("kind,name,data,line,reason,kept", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_input_fails_with_file_line_and_reason(tmp_path, kind, name, data, line, reason, kept):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(RowError) as err:
        docs(path)
    assert err.value.kind == kind and err.value.line == line and reason in err.value.message
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(err.value).startswith(where)


@pytest.mark.parametrize("kind,name,data,line,reason,kept", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_input_skipped_is_listed(tmp_path, kind, name, data, line, reason, kept):
    path = tmp_path / name
    path.write_bytes(data)
    log = tmp_path / "skipped.jsonl"
    policy = OnError("skip", log=log)
    found = docs(path, on_error=policy)
    policy.close()
    assert len(found) == kept
    assert policy.count == 1 and policy.by_kind == {kind: 1}
    listed = [json.loads(x) for x in log.read_text().splitlines()]
    assert listed == policy.rows and listed[0]["file"] == str(path) and listed[0]["line"] == line
    assert reason in listed[0]["reason"]


def test_every_bad_row_is_listed_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [GOOD, "not json\n", GOOD, "[1, 2]\n", json.dumps({"id": 3}) + "\n", GOOD]
    path.write_text("".join(lines))
    policy = OnError("skip")
    assert len(docs(path, on_error=policy)) == 3
    assert [(r["line"], r["kind"]) for r in policy.rows] == [(2, "malformed"), (4, "malformed"), (5, "missing_field")]


def test_on_error_must_be_fail_or_skip():
    with pytest.raises(ConfigError, match="on_error"):
        OnError("ignore")


def test_csv_header_only_lines_counted(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\n\na,one\n")
    assert list(read_csv(path)) == [(3, {"id": "a", "text": "one"})]
