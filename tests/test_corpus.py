"""The corpus stage and its readers, on small corpora written by each test."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rungs.kernel import ConfigError, InputError, compose, file_sha256
from rungs.curation import Doc, GEMMA_CHAT_TEMPLATE, iter_documents, load_tokenizer, normalize_text, read_jsonl, sources_digest, train_tokenizer
from stages import corpus as stage
from tests.conftest import shared_data

WORDS = ["asthma", "airway", "inhaler", "wheeze", "cough", "fever", "dose", "tablet", "nurse", "doctor", "kidney", "heart", "blood", "pressure", "sugar", "insulin", "rest", "water", "sleep", "pain", "chest", "breath", "symptom", "treatment", "infection", "virus"]
METRICS = {"files", "documents_read", "documents_kept", "dropped_short", "dropped_duplicate", "dropped_near_duplicate",
           "dropped_quality", "excluded_contaminated", "excluded_heldout_condition", "phi_spans", "skipped_rows", "train_documents",
           "heldout_documents", "train_blocks", "heldout_blocks", "train_tokens", "vocab_size",
           "replay_blocks", "replay_unique_blocks", "general_heldout_blocks"}


def sentence(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_corpus(root: Path, n_md: int = 12, seed: int = 1) -> Path:
    """A folder of Markdown files plus one duplicate, one fragment, a README and an ignored file."""
    rng = random.Random(seed)
    folder = root / "docs"
    (folder / "sub").mkdir(parents=True)
    for i in range(n_md):
        where = folder / "sub" if i % 3 == 0 else folder
        (where / f"doc-{i:02d}.md").write_text(f"# Topic {i}\n\n{sentence(rng)}\n\n{sentence(rng)}\n")
    (folder / "z-copy-of-doc-01.md").write_text((folder / "doc-01.md").read_text().replace("Topic 1", "Copy"))
    (folder / "short.txt").write_text("Too short.")
    (folder / "README.md").write_text("# About this folder\n\nNot a document, and long enough to count if read.\n")
    (folder / "notes.tsv").write_text("unsupported\tin\tfolders\n")
    return folder


def write_jsonl(path: Path, rows: list, raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    for index, text in (raw_lines or {}).items():
        lines.insert(index, text)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_cfg(paths, *overrides: str):
    listed = ",".join(f"'{p}'" for p in paths)
    return compose(["model=tiny", f"corpus.paths=[{listed}]", "corpus.block_size=32", "model.vocab_size=300", *overrides])


def build(cfg, out: Path, progress) -> dict:
    return stage.run(cfg, {}, out, progress, out.parent / f"{out.name}-scratch")


@pytest.fixture
def built(tmp_path, progress):
    folder = write_corpus(tmp_path)
    out = tmp_path / "out"
    return folder, out, build(make_cfg([folder]), out, progress)


# ---------------------------------------------------------------------------------------------- stage


def test_outputs_columns_and_metrics(built):
    _folder, out, metrics = built
    assert set(metrics) == METRICS
    docs = pq.read_table(out / "documents.parquet")
    assert docs.column_names == ["id", "source", "title", "url", "text", "indexed", "split"]
    assert all(docs.column("indexed").to_pylist())  # every page is knowledge unless its source says otherwise
    assert set(docs.column("split").to_pylist()) == {"train", "heldout"}
    blocks = pq.read_table(out / "blocks" / "train.parquet")
    assert blocks.column_names == ["input_ids"]
    assert str(blocks.schema.field("input_ids").type.value_type) == "int32"
    assert (out / "tokenizer" / "tokenizer.json").exists()
    assert metrics["files"] == 14  # 12 documents + copy + short.txt; README.md and notes.tsv skipped
    assert metrics["documents_read"] == 14
    assert metrics["documents_kept"] == docs.num_rows == 12
    assert metrics["train_documents"] + metrics["heldout_documents"] == 12
    assert metrics["train_blocks"] == blocks.num_rows
    assert metrics["heldout_blocks"] == pq.read_table(out / "blocks" / "heldout.parquet").num_rows
    real = sum(t != 0 for row in blocks.column("input_ids").to_pylist() for t in row)  # 0 = <pad>
    assert metrics["train_tokens"] == real and 0.8 * 32 * metrics["train_blocks"] < real <= 32 * metrics["train_blocks"]
    assert metrics["vocab_size"] <= 300
    assert "About this folder" not in " ".join(docs.column("text").to_pylist())


def test_duplicates_and_fragments_dropped_and_counted(built):
    _, out, metrics = built
    assert metrics["dropped_duplicate"] == 1 and metrics["dropped_short"] == 1
    docs = pq.read_table(out / "documents.parquet").to_pylist()
    ids = [d["id"] for d in docs]
    assert "doc-01" in ids and "z-copy-of-doc-01" not in ids  # the first one read is kept
    first = next(d for d in docs if d["id"] == "doc-00")
    assert first["title"] == "Topic 0" and not first["text"].startswith("#")
    assert first["source"].endswith("docs/sub/doc-00.md")


def test_rerun_is_byte_identical(tmp_path, progress):
    folder = write_corpus(tmp_path)
    cfg = make_cfg([folder])
    a, b = tmp_path / "a", tmp_path / "b"
    assert build(cfg, a, progress) == build(cfg, b, progress)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert {"documents.parquet", "blocks/train.parquet", "blocks/heldout.parquet"} <= {str(p) for p in files}
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_blocks_are_full_and_decode_to_document_text(built):
    _, out, _ = built
    tok = load_tokenizer(out / "tokenizer")
    texts = pq.read_table(out / "documents.parquet").column("text").to_pylist()
    for split in ("train", "heldout"):
        rows = pq.read_table(out / "blocks" / f"{split}.parquet").column("input_ids").to_pylist()
        assert rows
        for ids in rows:
            assert len(ids) == 32 and ids[0] == tok.bos_token_id
            # between <bos>/<eos>/<pad> markers every run of tokens is a piece of some document
            piece: list[int] = []
            for i in ids + [tok.eos_token_id]:
                if i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id):
                    if piece:
                        decoded = tok.decode(piece)
                        assert any(decoded in t for t in texts), decoded
                    piece = []
                else:
                    piece.append(i)
    first = pq.read_table(out / "blocks" / "train.parquet").column("input_ids")[0].as_py()
    assert first[0] == tok.bos_token_id


def test_split_depends_on_seed_and_id_only():
    scores = [stage.split_score(0, f"d{i}") for i in range(200)]
    assert scores == [stage.split_score(0, f"d{i}") for i in range(200)]
    assert scores != [stage.split_score(1, f"d{i}") for i in range(200)]
    assert 5 < sum(stage.assign_splits(scores, 0.1)) < 40
    # each split gets a document whenever there are two
    assert sorted(stage.assign_splits([0.5, 0.7], 0.01)) == [0, 1]
    assert sorted(stage.assign_splits([0.2, 0.3], 0.99)) == [0, 1]
    assert list(stage.assign_splits([0.5], 0.1)) == [0]


def test_a_split_smaller_than_a_block_is_one_padded_block(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=2)
    out = tmp_path / "out"
    metrics = build(make_cfg([folder], "corpus.block_size=512"), out, progress)
    assert metrics["heldout_blocks"] == 1 and metrics["train_tokens"] < 512 * metrics["train_blocks"]
    [block] = pq.read_table(out / "blocks" / "heldout.parquet").column("input_ids").to_pylist()
    assert block[0] == load_tokenizer(out / "tokenizer").bos_token_id and block[-1] == load_tokenizer(out / "tokenizer").pad_token_id


def test_a_random_model_has_no_tokenizer_of_its_own(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=3)
    with pytest.raises(ConfigError, match="model.tokenizer=train"):
        build(make_cfg([folder], "model.tokenizer=model"), tmp_path / "out", progress)


def test_jsonl_corpus_with_configured_fields(tmp_path, progress):
    rng = random.Random(3)
    rows = [{"key": f"k{i}", "name": f"Name {i}", "link": f"https://example.org/{i}",
             "body": [sentence(rng), sentence(rng)] if i % 2 else sentence(rng)} for i in range(10)]
    rows.append({"name": "no key", "body": sentence(rng)})
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = make_cfg([path], "corpus.text_field=body", "corpus.id_field=key",
                   "corpus.title_field=name", "corpus.url_field=link")
    out = tmp_path / "out"
    metrics = build(cfg, out, progress)
    assert metrics["files"] == 1 and metrics["documents_kept"] == 11
    docs = {d["id"]: d for d in pq.read_table(out / "documents.parquet").to_pylist()}
    assert docs["k1"]["title"] == "Name 1" and docs["k1"]["url"] == "https://example.org/1"
    assert docs["k1"]["text"] == "\n".join(rows[1]["body"])
    assert "rows.jsonl:11" in docs  # no id field: file name and line


def test_shared_pubmedqa(tmp_path, progress):
    path = shared_data("pubmedqa.jsonl")
    cfg = make_cfg([path], "corpus.text_field=contexts", "corpus.block_size=128", "model.vocab_size=512")
    metrics = build(cfg, tmp_path / "out", progress)
    assert metrics["documents_read"] == 500 and metrics["documents_kept"] > 400
    assert metrics["train_blocks"] > 100 and metrics["heldout_blocks"] > 0


# ---------------------------------------------------------------------------------------------- errors


def test_malformed_jsonl_line_names_file_and_line(tmp_path, progress):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "a" * 50}] * 3, raw_lines={2: '{"text": "unterminated'})
    with pytest.raises(InputError) as err:
        build(make_cfg([path]), tmp_path / "out", progress)
    assert "bad.jsonl:3" in str(err.value) and "invalid JSON" in str(err.value)
    assert err.value.line == 3


@pytest.mark.parametrize("line, reason", [("[1, 2]", "array"), ('"text"', "string")])
def test_jsonl_line_must_be_an_object(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": "x"}], raw_lines={1: line})
    with pytest.raises(InputError, match=f"rows.jsonl:2: invalid JSON: found a {reason}"):
        list(read_jsonl(path))


def test_jsonl_not_utf8_and_empty(tmp_path):
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="latin.jsonl:2: invalid JSON: not UTF-8"):
        list(read_jsonl(bad))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="empty file"):
        list(read_jsonl(empty))


def test_missing_text_field_names_field_and_fields_present(tmp_path, progress):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a" * 40}])
    with pytest.raises(InputError) as err:
        build(make_cfg([path]), tmp_path / "out", progress)
    message = str(err.value)
    assert "qa.jsonl:1" in message and "'text'" in message and "answer, question" in message


def test_missing_path(tmp_path, progress):
    with pytest.raises(InputError, match="no-such-folder"):
        build(make_cfg([tmp_path / "no-such-folder"]), tmp_path / "out", progress)
    with pytest.raises(InputError, match="no such file"):
        stage.sources(make_cfg([tmp_path / "nothing.jsonl"]))


def test_unknown_extension_named_explicitly(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("a\tb\n")
    with pytest.raises(InputError, match="unsupported file type '.tsv'"):
        list(iter_documents([str(path)], text_field="text", id_field="id", title_field="title", url_field="url"))


# ---------------------------------------------------------------------------------------------- readers


def test_iter_documents_and_sources(tmp_path):
    folder = write_corpus(tmp_path, n_md=4)
    docs = list(iter_documents([str(folder)], text_field="text", id_field="id", title_field="title", url_field="url"))
    assert [d.id for d in docs] == ["doc-01", "doc-02", "short", "doc-00", "doc-03", "z-copy-of-doc-01"]
    assert all(isinstance(d, Doc) for d in docs)
    plain = next(d for d in docs if d.id == "short")
    assert plain.title == "short" and plain.text == "Too short."
    digest = sources_digest(stage.sources(make_cfg([folder], "corpus.replay_ratio=0", "corpus.decontaminate=false")))
    assert len(digest) == 6 and not any(k.endswith(("README.md", ".tsv")) for k in digest)
    some = next(iter(digest))
    assert digest[some]["sha256"] == file_sha256(some) and digest[some]["bytes"] == Path(some).stat().st_size


def test_normalize_text():
    assert normalize_text("  ﬁrst\u00a0line \t here  \r\nnext\r\n\r\n\r\n\n\nlast  ") == "first line here\nnext\n\nlast"
    assert normalize_text("Ａ１") == "A1"


# ---------------------------------------------------------------------------------------------- tokenizer


def test_tokenizer_round_trip_ids_and_chat_template(tmp_path):
    rng = random.Random(0)
    tok = train_tokenizer((sentence(rng) for _ in range(50)), vocab_size=320)
    assert [tok.pad_token_id, tok.eos_token_id, tok.bos_token_id, tok.unk_token_id] == [0, 1, 2, 3]
    assert tok.convert_tokens_to_ids(["<start_of_turn>", "<end_of_turn>"]) == [4, 5]
    text = "Fièvre 38.5°C — take 500 mg paracetamol 🩺\n\n  then rest."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    ids = tok(text)["input_ids"]
    assert ids[0] == 2 and ids.count(2) == 1
    tok.save_pretrained(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    assert again(text)["input_ids"] == ids and again.chat_template == GEMMA_CHAT_TEMPLATE

    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " What is asthma? "},
            {"role": "assistant", "content": "A lung condition."}]
    rendered = again.apply_chat_template(chat, tokenize=False)
    assert rendered == ("<bos><start_of_turn>user\nBe brief.\n\nWhat is asthma?<end_of_turn>\n"
                        "<start_of_turn>model\nA lung condition.<end_of_turn>\n")
    prompt = again.apply_chat_template(chat[1:2], tokenize=False, add_generation_prompt=True)
    assert prompt == "<bos><start_of_turn>user\nWhat is asthma?<end_of_turn>\n<start_of_turn>model\n"
    encoded = again.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"]
    assert encoded[:2] == [2, 4] and encoded.count(2) == 1
    assert again.decode(encoded) == rendered


def test_tokenizer_is_deterministic_and_rejects_tiny_vocab():
    texts = [sentence(random.Random(i)) for i in range(30)]
    assert train_tokenizer(texts, 400).backend_tokenizer.to_str() == train_tokenizer(texts, 400).backend_tokenizer.to_str()
    with pytest.raises(ConfigError, match="vocab_size"):
        train_tokenizer(texts, 100)


def test_general_replay_share_and_heldout_general_blocks(tmp_path, progress):
    folder = write_corpus(tmp_path, n_md=40)
    out = tmp_path / "out"
    metrics = build(make_cfg([folder], "corpus.replay_ratio=0.1"), out, progress)
    replay = pq.read_table(out / "blocks" / "replay.parquet").column("input_ids").to_pylist()
    general = pq.read_table(out / "blocks" / "general.parquet").column("input_ids").to_pylist()
    share = len(replay) / (len(replay) + metrics["train_blocks"])
    assert abs(share - 0.1) < 0.02 and metrics["replay_blocks"] == len(replay)
    assert general and metrics["general_heldout_blocks"] == len(general)
    assert not {tuple(b) for b in replay} & {tuple(b) for b in general}  # held-out general text is never trained on
    off = build(make_cfg([folder], "corpus.replay_ratio=0"), tmp_path / "off", progress)
    assert "replay_blocks" not in off and not (tmp_path / "off" / "blocks" / "replay.parquet").exists()


def test_a_training_only_source_trains_holds_out_its_own_conditions_and_stays_out_of_the_index(tmp_path, progress):
    from rungs.curation import heldout_condition
    from stages import index as index_stage

    rng = random.Random(5)
    folder = write_corpus(tmp_path)
    conditions = [f"Condition {i}" for i in range(40)]
    held = {c for c in conditions if heldout_condition(c, 0.3)}
    assert 0 < len(held) < len(conditions)
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"id": f"x{i}", "focus": c, "answer": sentence(rng, 60)}
                                                   for i, c in enumerate(conditions)])
    cfg = make_cfg([folder], f"corpus.sources=[{{path: '{extra}', text_field: answer, title_field: focus, "
                             "index: false, heldout_conditions: 0.3}]")
    out = tmp_path / "out"
    metrics = build(cfg, out, progress)
    docs = pq.read_table(out / "documents.parquet").to_pylist()
    mine = [d for d in docs if d["id"].startswith("x")]
    assert len(mine) == len(conditions) and not any(d["indexed"] for d in mine)
    assert all(d["indexed"] for d in docs if not d["id"].startswith("x"))
    # its own share of conditions is held out of training; the corpus-wide setting (0) holds out none of the pages
    assert {d["title"] for d in mine if d["split"] == "excluded"} == held
    assert metrics["excluded_heldout_condition"] == len(held)
    assert all(d["split"] != "excluded" for d in docs if not d["id"].startswith("x"))

    index_out = tmp_path / "index"
    index_cfg = compose(["model=tiny", "index.chunk_words=40", "index.overlap_words=10", "index.batch_size=16"])
    index_stage.run(index_cfg, {"corpus": type("A", (), {"path": out})()}, index_out, progress, tmp_path / "iscratch")
    indexed = set(pq.read_table(index_out / "chunks.parquet", columns=["doc_id"]).column("doc_id").to_pylist())
    assert indexed and not any(i.startswith("x") for i in indexed)


def test_conditions_match_a_name_inside_another_without_comparing_every_pair():
    from rungs.curation import Conditions, condition_words, same_condition

    names = ["Type 2 Diabetes", "Alzheimer Disease", "Lung Cancer", "Asthma"]
    known = Conditions(condition_words(n) for n in names)
    for name, expected in [("diabetes", True), ("Alzheimer's Disease", True), ("Small Cell Lung Cancer", True),
                           ("Cancer of the Liver", False), ("Gout", False), ("", False)]:
        words = condition_words(name)
        assert known.covers(words) is expected, name
        assert any(same_condition(words, condition_words(n)) for n in names) is expected  # the pairwise rule agrees


def test_a_missing_optional_source_is_left_out_and_a_missing_required_one_named(tmp_path, progress):
    folder = write_corpus(tmp_path)
    gone = tmp_path / "not-here.jsonl"
    metrics = build(make_cfg([folder], f"corpus.sources=[{{path: '{gone}', optional: true}}]"), tmp_path / "a", progress)
    assert metrics["documents_kept"] == 12
    assert stage.sources(make_cfg([folder], f"corpus.sources=[{{path: '{gone}', optional: true}}]")) == \
        stage.sources(make_cfg([folder]))  # the fingerprint's inputs do not name it
    with pytest.raises(InputError, match="not-here.jsonl"):
        build(make_cfg([folder], f"corpus.sources=[{{path: '{gone}'}}]"), tmp_path / "b", progress)
