"""corpus: raw domain text -> cleaned, de-identified, de-duplicated documents, a split, a tokenizer, blocks.

Output (see ARCHITECTURE.md): `documents.parquet` (id, source, title, url, text, indexed, split; `indexed`
false for a source that is training text only, `corpus.sources[].index: false`), `tokenizer/`,
`blocks/train.parquet` and `blocks/heldout.parquet` (input_ids: list<int32>, each row exactly
`corpus.block_size` tokens), `report.json` + `report.md` (what was kept, dropped and why, with examples),
`skipped.jsonl` (every bad row when corpus.on_error=skip) and, with corpus.instructions,
`instructions.jsonl` (chat records).

Per document, in order: read (rungs.curation: any format, streaming) -> clean (Unicode, whitespace,
boilerplate lines) -> PHI scrub (clinical-note sources: the rules, and with a `deid` input its learned
recogniser too) -> length/quality rules ->
exact duplicate -> near duplicate (MinHash LSH) -> decontamination. A document that
overlaps the evaluation questions or the sft held-out answers stays in documents.parquet with split
"excluded" (the retrieval index may hold it) and never reaches a tokenizer or a training block.

Memory holds one batch of documents, one block buffer, and per kept document a split score, 8 bytes of
exact hash and 9 x 12 bytes of LSH band keys (rungs.curation's KeyIndex), whatever the size of the corpus.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from rungs.curation import (
    DROP_REASONS,
    Decontaminator,
    Fields,
    KeyIndex,
    NearDuplicates,
    OnError,
    Quality,
    boilerplate_pattern,
    clean_text,
    exact_key,
    expand_paths,
    file_documents,
    heldout_condition,
    is_heldout,
    iter_documents,
    iter_rows,
    jaccard,
    normalize_text,
    pack,
    quality_issue,
    scrub,
    source_of,
    train_tokenizer,
    training_conversation,
    write_records,
)
from rungs.kernel import ConfigError, InputError, resolve_path
from rungs.train import source_files, source_tokenizer

VERSION = 12  # 12: PHI rules for test12's classes; 11: PHI rules for test11's classes; 10: PHI rules for test10's classes; 9: PHI rules for test9's classes; 8: PHI rules for test7's and test8's classes; 7: PHI rules for prints and face photographs named without a value; 6: PHI rules for spoken numbers, ages, holidays, log-ins (clinical sources scrub more); 5: documents.parquet `indexed`, per-source held-out conditions; 4: <bos>-led segments, general.parquet, held-out conditions; 3: every format, cleaning report, near-duplicates, PHI scrubbing, decontamination, on_error
# Decontamination reads the evaluation questions and the sft held-out conversations: the fields that
# decide which texts those are shape this artifact; the rest of evaluate and sft does not.
DECONTAM_CONFIG = (
    "evaluate.questions", "evaluate.question_field",
    "sft.data", "sft.heldout_fraction", "sft.source_fields", "sft.question_field", "sft.answer_field", "sft.messages_field",
    "sft.dialogue_field", "sft.assistant_speakers", "sft.system_prompt", "sft.deidentify",
)
CONFIG = ("seed", "model", "corpus", *DECONTAM_CONFIG)

SPLITS = ("train", "heldout")
EXCLUDED = "excluded"  # split of documents overlapping evaluation text: indexed, never trained on
KINDS = ("documents", "clinical_notes")
BATCH_ROWS = 1024  # documents or blocks per parquet row group
DOCUMENT_COLUMNS = ("id", "source", "title", "url", "text", "indexed", "split")  # strings, but `indexed` (bool)
KEPT_COLUMNS = DOCUMENT_COLUMNS[:-1]  # the split is decided once every document is read
BOOL_COLUMNS = {"indexed"}  # false: the source is training text only (corpus.sources[].index), not knowledge
BLOCKS_COLUMN = "input_ids"  # list<int32>, block_size long
GENERAL_DOCUMENTS = "general.parquet"  # the replay (general) documents and their split
GENERAL_COLUMNS = ("id", "text", "split")
# Written explicitly so the same rows give the same bytes (pyarrow writes no timestamps).
PARQUET_OPTIONS = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
}
SNIPPET = 240  # characters of a document shown in a report example


@dataclass
class Source:
    """One configured input: its files, how to read them, and whether to de-identify them."""
    name: str
    files: list[Path]
    fields: Fields
    kind: str
    deidentify: bool
    index: bool = True  # false: trained on, never retrieved
    heldout_conditions: float = 0.0
    counts: Counter = field(default_factory=Counter)


def _resolve_sources(c) -> list[Source]:
    def deid(kind, own):
        for choice in (own, c.deidentify):
            if choice is not None:
                return bool(choice)
        return kind == "clinical_notes"

    out = []
    if c.paths:
        out.append(Source(", ".join(c.paths), expand_paths(c.paths),
                          Fields(c.text_field, c.id_field, c.title_field, c.url_field), c.kind, deid(c.kind, None),
                          heldout_conditions=c.heldout_conditions))
    for s in c.sources:
        if s.optional and not resolve_path(s.path).exists():
            continue  # e.g. ../shared/data not on this machine: the corpus (and its fingerprint) go without it
        kind = s.kind or c.kind
        fields = Fields(s.text_field or c.text_field, s.id_field or c.id_field,
                        s.title_field or c.title_field, s.url_field or c.url_field)
        held = c.heldout_conditions if s.heldout_conditions is None else s.heldout_conditions
        out.append(Source(s.path, expand_paths([s.path]), fields, kind, deid(kind, s.deidentify), s.index, held))
    return out


def sources(cfg) -> list[Path]:
    """The concrete files the stage reads: corpus inputs with folders expanded, replay text, the
    evaluation texts decontamination compares against, instruction sources, and a model's tokenizer."""
    c = cfg.corpus
    tokenizer_files = source_files(cfg.model) if cfg.model.tokenizer == "model" else []
    replay_files = expand_paths(c.replay_paths) if _replaying(cfg) else []
    inputs = [f for s in _resolve_sources(c) for f in s.files]
    instructions = expand_paths([s.path for s in c.instructions]) if c.instructions else []
    return inputs + replay_files + _eval_files(cfg) + instructions + tokenizer_files


def _eval_files(cfg) -> list[Path]:
    if not cfg.corpus.decontaminate:
        return []
    files = [cfg.evaluate.questions] if cfg.evaluate.questions else []
    return [resolve_path(p) for p in [*files, *cfg.sft.data] if resolve_path(p).exists()]


def _replaying(cfg) -> bool:
    return bool(cfg.corpus.replay_paths) and cfg.corpus.replay_ratio > 0


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    c = cfg.corpus
    _check_config(cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    srcs = _resolve_sources(c)
    problems = OnError(c.on_error, log=out / "skipped.jsonl")
    try:
        return _run(cfg, srcs, problems, out, scratch, progress, _scrubber(inputs.get("deid")))
    finally:
        problems.close()


def _scrubber(deid):
    """The PHI scrubber: the rules, or with a deid artifact the rules and its learned recogniser."""
    if deid is None:
        return scrub
    from rungs.curation import PhiRecogniser

    return PhiRecogniser.load(Path(deid.path)).scrub


def _run(cfg, srcs: list[Source], problems: OnError, out: Path, scratch: Path, progress, scrubber=scrub) -> dict:
    # 1. Read, clean, de-identify, filter, de-duplicate and decontaminate into a scratch file.
    c = cfg.corpus
    report = Report(c.report_examples, scrubber)
    decontaminator = _decontaminator(cfg, problems, report) if c.decontaminate else None
    kept_path = scratch / "kept.parquet"
    scores, excluded = _read(cfg, srcs, problems, report, decontaminator, kept_path, progress)
    read = sum(s.counts["read"] for s in srcs)
    where = ", ".join(s.name for s in srcs)
    usable = len(scores) - sum(excluded)
    if usable < 2:
        dropped = ", ".join(f"{n} {r}" for r, n in sorted(report.dropped.items())) or "none dropped"
        raise InputError(where, f"{usable} usable document(s) of {read} read ({dropped}; {problems.count} bad row(s) "
                                "skipped); need at least 2 (one for training, one held out)")

    # 2. Split: a document is held out when its score falls below heldout_fraction; each split gets one.
    trainable = [s for s, x in zip(scores, excluded) if not x]
    it = iter(assign_splits(trainable, c.heldout_fraction))
    splits = [EXCLUDED if x else SPLITS[next(it)] for x in excluded]
    del scores, trainable
    documents_path = out / "documents.parquet"
    counts = dict.fromkeys((*SPLITS, EXCLUDED), 0)
    with _Writer(documents_path, DOCUMENT_COLUMNS) as writer:
        offset = 0
        for batch in _parquet().ParquetFile(kept_path).iter_batches(batch_size=BATCH_ROWS):
            rows = batch.to_pylist()
            for row, split in zip(rows, splits[offset:offset + len(rows)]):
                counts[split] += 1
                writer.add({**row, "split": split})
            offset += len(rows)
    report.resolve_duplicates(kept_path, c.shingle_words)
    kept_path.unlink()

    # 3. Instruction records (chat turns), PHI-scrubbed like the documents.
    instructions = _instructions(cfg, out, problems, report, progress) if c.instructions else {}

    # 4. Tokenizer, trained on the training split only.
    tokenizer = _tokenizer(cfg, documents_path)
    tokenizer.save_pretrained(str(out / "tokenizer"))

    # 5. Pack: <bos>-led document segments into block_size blocks, per split.
    packed = _pack(documents_path, tokenizer, c.block_size, out / "blocks", progress, counts)
    for name in SPLITS:
        if packed[name] == 0:  # a split of documents too short to leave one token after cleaning
            raise InputError(where, f"the {name} split ({counts[name]} document(s)) packs into no block of "
                                    f"corpus.block_size={c.block_size} tokens; add documents or change corpus.heldout_fraction")

    # 6. Replay: general text mixed into training at replay_ratio; its held-out part measures forgetting.
    replay = _replay(cfg, tokenizer, out / "blocks", packed["train"]) if _replaying(cfg) else {}

    metrics = {
        "files": sum(len(s.files) for s in srcs),
        "documents_read": read,
        "documents_kept": counts["train"] + counts["heldout"],
        "dropped_short": report.dropped["too_short"],
        "dropped_duplicate": report.dropped["exact_duplicate"],
        "dropped_near_duplicate": report.dropped["near_duplicate"],
        "dropped_quality": sum(report.dropped[r] for r in DROP_REASONS if r != "too_short"),
        "excluded_contaminated": report.dropped["contaminated"],
        "excluded_heldout_condition": report.dropped["heldout_condition"],
        "phi_spans": sum(report.phi.values()),
        "skipped_rows": problems.count,
        "train_documents": counts["train"],
        "heldout_documents": counts["heldout"],
        "train_blocks": packed["train"],
        "heldout_blocks": packed["heldout"],
        "train_tokens": packed["train_tokens"],  # real tokens; the rest of the blocks is padding
        "vocab_size": len(tokenizer),
        **instructions,
        **replay,
    }
    report.write(out, cfg, srcs, problems, metrics)
    return metrics


def _read(cfg, srcs: list[Source], problems: OnError, report: Report, decontaminator, kept_path: Path,
          progress) -> tuple[array, bytearray]:
    """Read every source into kept_path; per kept document its split score and whether it is excluded."""
    c = cfg.corpus
    quality = Quality(c.min_chars, c.max_chars, c.min_words, c.min_alpha_ratio, c.max_repetition)
    boilerplate = boilerplate_pattern(c.boilerplate)
    exact = KeyIndex()
    near = (NearDuplicates(c.near_duplicate_threshold, c.minhash_permutations, c.shingle_words)
            if c.near_duplicate_threshold > 0 else None)
    scores = array("d")
    excluded = bytearray()
    total = sum(f.stat().st_size for s in srcs for f in s.files)
    bar = progress(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="corpus: reading")
    try:
        with _Writer(kept_path, KEPT_COLUMNS) as kept:
            for src in srcs:
                for path in src.files:
                    for doc in file_documents(path, src.fields, problems, bar.update):
                        src.counts["read"] += 1
                        text, removed = clean_text(doc.text, boilerplate)
                        report.boilerplate_lines += removed
                        title = normalize_text(doc.title) if doc.title else None
                        if src.deidentify:
                            text, title = report.scrubbed(doc, text, title)
                        reason = quality_issue(text, quality)
                        if reason is None:
                            key = [exact_key(text)]
                            row = exact.find(key)
                            if row >= 0:
                                reason = "exact_duplicate"
                            elif near is not None and (row := near.find(text)) >= 0:
                                reason = "near_duplicate"
                        if reason is not None:
                            src.counts[reason] += 1
                            report.drop(reason, doc, text, duplicate_of=row if reason.endswith("duplicate") else None)
                            continue
                        row = len(scores)
                        exact.add(key, row)
                        if near is not None:
                            near.add(text, row)
                        contaminated = decontaminator is not None and (
                            doc.id in decontaminator.source_ids or decontaminator.contaminated(text))
                        held_condition = not contaminated and heldout_condition(title, src.heldout_conditions)
                        if contaminated:
                            src.counts[EXCLUDED] += 1
                            report.contaminated(doc, text, 1.0 if doc.id in decontaminator.source_ids else decontaminator.overlap(text))
                        elif held_condition:
                            src.counts[EXCLUDED] += 1
                            report.drop("heldout_condition", doc, text)
                        else:
                            src.counts["kept"] += 1
                        kept.add({"id": doc.id, "source": doc.source, "title": title or None, "url": doc.url, "text": text,
                                  "indexed": src.index})
                        scores.append(split_score(cfg.seed, doc.id))
                        excluded.append(contaminated or held_condition)
    finally:
        bar.close()
    return scores, excluded


def _decontaminator(cfg, problems: OnError, report: Report):
    """Decontaminator over evaluate.questions and the sft stage's held-out conversations (both turns)."""
    c = cfg.corpus
    texts: list[str] = []
    questions = resolve_path(cfg.evaluate.questions) if cfg.evaluate.questions else None
    if questions is not None and questions.exists():
        for line, row in iter_rows(questions, problems):
            value = row.get(cfg.evaluate.question_field)
            if isinstance(value, str):
                texts.append(value)
        report.eval_texts["evaluate.questions"] = len(texts)
    heldout = 0
    sources: set[str] = set()
    for raw in cfg.sft.data:
        path = resolve_path(raw)
        if not path.exists():
            continue
        for line, row in iter_rows(path, problems):
            try:
                messages = training_conversation(row, cfg.sft, path, line)
            except InputError as exc:
                problems(exc)
                continue
            source = source_of(row, cfg.sft)
            if is_heldout(messages, cfg.seed, cfg.sft.heldout_fraction, source):
                heldout += 1
                texts.extend(m["content"] for m in messages if m["role"] != "system")
                if source is not None:
                    sources.add(source)
    report.eval_texts["sft held-out conversations"] = heldout
    report.eval_texts["sft held-out source documents"] = len(sources)
    return Decontaminator(texts, n=c.decontam_ngram, threshold=c.decontam_threshold, source_ids=sources)


def _instructions(cfg, out: Path, problems: OnError, report: Report, progress) -> dict:
    return write_records(cfg, out / "instructions.jsonl", problems, report, progress, report.scrubber)


class Report:
    """Counts and examples for report.json and report.md; examples carry scrubbed text only."""
    def __init__(self, examples: int, scrubber=scrub):
        self.examples = examples
        self.scrubber = scrubber  # the rules, or the rules and a deid artifact's recogniser
        self.dropped: Counter = Counter()
        self.samples: dict[str, list[dict]] = {}
        self.boilerplate_lines = 0
        self.phi: Counter = Counter()
        self.phi_documents = 0
        self.phi_samples: list[dict] = []
        self.excluded_chars = 0
        self.eval_texts: dict[str, int] = {}
        self.instructions: dict = {}

    def _example(self, doc, text: str, **extra) -> dict:
        return {"id": doc.id, "source": doc.source, "line": doc.line, "text": text[:SNIPPET], **extra}

    def drop(self, reason: str, doc, text: str, duplicate_of: int | None = None) -> None:
        self.dropped[reason] += 1
        bucket = self.samples.setdefault(reason, [])
        if len(bucket) < self.examples:
            extra = {"duplicate_of_row": duplicate_of, "_text": text} if duplicate_of is not None else {}
            bucket.append(self._example(doc, text, **extra))

    def contaminated(self, doc, text: str, overlap: float) -> None:
        self.dropped["contaminated"] += 1
        self.excluded_chars += len(text)
        bucket = self.samples.setdefault("contaminated", [])
        if len(bucket) < self.examples:
            bucket.append(self._example(doc, text, overlap=round(overlap, 3)))

    def scrubbed(self, doc, text: str, title: str | None) -> tuple[str, str | None]:
        result = self.scrubber(text)
        if result.spans:
            self.phi_documents += 1
            self.phi.update(span.kind for span in result.spans)
            if len(self.phi_samples) < self.examples:
                first = min(result.text.find("["), max(0, len(result.text) - SNIPPET))
                start = max(0, first - SNIPPET // 3)
                self.phi_samples.append({"id": doc.id, "source": doc.source, "line": doc.line,
                                         "kinds": sorted({s.kind for s in result.spans}),
                                         "text": result.text[start:start + SNIPPET]})
        if title:
            title_result = self.scrubber(title)
            self.phi.update(span.kind for span in title_result.spans)
            title = title_result.text
        return result.text, title

    def resolve_duplicates(self, kept_path: Path, k: int) -> None:
        """Name the kept document each duplicate example matched, with their measured Jaccard."""
        wanted = {e["duplicate_of_row"] for r in ("exact_duplicate", "near_duplicate")
                  for e in self.samples.get(r, [])}
        if not wanted:
            return
        found: dict[int, dict] = {}
        offset = 0
        for batch in _parquet().ParquetFile(kept_path).iter_batches(batch_size=BATCH_ROWS, columns=["id", "source", "text"]):
            for i, row in enumerate(batch.to_pylist(), start=offset):
                if i in wanted:
                    found[i] = row
            offset += batch.num_rows
        for reason in ("exact_duplicate", "near_duplicate"):
            for e in self.samples.get(reason, []):
                match = found.get(e.pop("duplicate_of_row"))
                text = e.pop("_text")
                if match is not None:
                    e["duplicate_of"] = {"id": match["id"], "source": match["source"]}
                    e["jaccard"] = round(jaccard(text, match["text"], k), 3)

    def write(self, out: Path, cfg, srcs: list[Source], problems: OnError, metrics: dict) -> None:
        c = cfg.corpus
        reasons = {**DROP_REASONS,
                   "exact_duplicate": "the same cleaned text as an earlier document",
                   "near_duplicate": f"a MinHash LSH match of an earlier document ({c.shingle_words}-word shingles, "
                                     f"threshold {c.near_duplicate_threshold}: pairs below it are caught with falling "
                                     "probability; each example shows the measured Jaccard)",
                   "contaminated": f">= {c.decontam_threshold:.0%} of its {c.decontam_ngram}-word n-grams (or a whole "
                                   "short evaluation text) found in the evaluation texts, or the source document of "
                                   "held-out sft conversations (overlap 1.0); kept for the index as "
                                   f"split={EXCLUDED!r}, never trained on",
                   "heldout_condition": "its title (the condition) is in the held-out share of its source's "
                                        f"(corpus.heldout_conditions={c.heldout_conditions:.0%} unless the source sets its own) "
                                        "conditions (rungs.curation.heldout_condition) that evaluate scores as independent "
                                        f"text; kept for the index as split={EXCLUDED!r}, never trained on"}
        read = metrics["documents_read"]
        body = {
            "documents": {"read": read, "kept": metrics["documents_kept"], "excluded": metrics["excluded_contaminated"],
                          "dropped": sum(n for r, n in self.dropped.items() if r not in ("contaminated", "heldout_condition")),
                          "train": metrics["train_documents"], "heldout": metrics["heldout_documents"]},
            "dropped": {r: {"count": self.dropped[r], "why": reasons[r], "examples": self.samples.get(r, [])}
                        for r in reasons if self.dropped[r]},
            "cleaning": {"boilerplate_lines_removed": self.boilerplate_lines,
                         "unicode": "NFKC; invisible and control characters removed; whitespace unified"},
            "sources": [{"path": s.name, "kind": s.kind, "deidentified": s.deidentify, "files": len(s.files),
                         **dict(sorted(s.counts.items()))} for s in srcs],
            "deidentification": {"documents_with_phi": self.phi_documents, "spans": dict(sorted(self.phi.items())),
                                 "examples": self.phi_samples},
            "decontamination": {"enabled": c.decontaminate, "ngram": c.decontam_ngram,
                                "threshold": c.decontam_threshold, "evaluation_texts": self.eval_texts,
                                "documents_excluded": self.dropped["contaminated"],
                                "characters_excluded": self.excluded_chars},
            "skipped": {"on_error": c.on_error, "count": problems.count, "by_kind": dict(sorted(problems.by_kind.items())),
                        "rows": problems.rows, "all_rows_in": "skipped.jsonl"},
            "instructions": self.instructions,
            "metrics": metrics,
        }
        (out / "report.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        (out / "report.md").write_text(_markdown(body))


def _markdown(r: dict) -> str:
    d = r["documents"]
    lines = ["# Corpus report", "",
             (f"Read {d['read']} documents: kept {d['kept']} ({d['train']} train, {d['heldout']} held out), "
             f"excluded {d['excluded']} overlapping evaluation text, dropped {d['dropped']}."), "",
             "## Sources", "", "| source | kind | de-identified | files | counts |", "|---|---|---|---:|---|"]
    for s in r["sources"]:
        counts = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("path", "kind", "deidentified", "files"))
        lines.append(f"| {s['path']} | {s['kind']} | {'yes' if s['deidentified'] else 'no'} | {s['files']} | {counts} |")
    lines += ["", "## Dropped", ""]
    if not r["dropped"]:
        lines.append("Nothing dropped.")
    for reason, info in r["dropped"].items():
        lines += [f"### {reason}: {info['count']}", "", f"Why: {info['why']}.", ""]
        for e in info["examples"]:
            extra = ""
            if "duplicate_of" in e:
                extra = f" — duplicate of `{e['duplicate_of']['id']}` (Jaccard {e['jaccard']})"
            if "overlap" in e:
                extra = f" — overlap {e['overlap']}"
            lines.append(f"- `{e['id']}` ({e['source']}:{e['line']}){extra}: {_quote(e['text'])}")
        lines.append("")
    c = r["cleaning"]
    lines += ["## Cleaning", "", f"Unicode: {c['unicode']}. Boilerplate lines removed: {c['boilerplate_lines_removed']}.", ""]
    p = r["deidentification"]
    lines += ["## De-identification", "",
              f"Documents with identifiers: {p['documents_with_phi']}; spans replaced: "
              + (", ".join(f"{k} {v}" for k, v in p["spans"].items()) or "none"), ""]
    lines += [f"- `{e['id']}` ({e['source']}:{e['line']}): {_quote(e['text'])}" for e in p["examples"]]
    x = r["decontamination"]
    lines += ["", "## Decontamination", ""]
    if x["enabled"]:
        against = ", ".join(f"{k} ({v})" for k, v in x["evaluation_texts"].items()) or "no evaluation texts"
        lines.append(f"Against {against}: {x['documents_excluded']} document(s), {x['characters_excluded']} characters "
                     f"excluded from training ({x['ngram']}-grams, threshold {x['threshold']}).")
    else:
        lines.append("Off (corpus.decontaminate=false).")
    k = r["skipped"]
    lines += ["", f"## Skipped rows (corpus.on_error={k['on_error']}): {k['count']}", ""]
    lines += [f"- {row['file']}:{row['line'] if row['line'] is not None else '-'} [{row['kind']}] {row['reason']}"
              for row in k["rows"]]
    if k["count"] > len(k["rows"]):
        lines.append(f"- … {k['count'] - len(k['rows'])} more in {k['all_rows_in']}")
    if r["instructions"]:
        i = r["instructions"]
        lines += ["", "## Instructions", "", (f"{i.get('records', 0)} chat records from {', '.join(i.get('sources', []))}; "
                  f"{i.get('phi_spans', 0)} identifier span(s) replaced in clinical sources.")]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return "“" + (flat[:SNIPPET] + "…" if len(flat) > SNIPPET or len(text) == SNIPPET else flat) + "”"


def _replay(cfg, tokenizer, folder: Path, domain_blocks: int) -> dict:
    """blocks/replay.parquet (train share) and blocks/general.parquet (held out), split like the corpus.

    Replay text is small by design (a few percent of training), so it is read in memory.
    """
    c = cfg.corpus
    docs = [(d.id, normalize_text(d.text)) for d in iter_documents(expand_paths(c.replay_paths), text_field=c.replay_text_field)]
    docs = [(i, t) for i, t in docs if len(t) >= c.min_chars]
    where = ", ".join(c.replay_paths)
    if len(docs) < 2:
        raise InputError(where, f"{len(docs)} usable replay document(s); need at least 2 (one to replay, one held out)")
    splits = assign_splits([split_score(cfg.seed, i) for i, _ in docs], c.heldout_fraction)
    train = list(pack((t for (_, t), s in zip(docs, splits) if not s), tokenizer, c.block_size))
    general = list(pack((t for (_, t), s in zip(docs, splits) if s), tokenizer, c.block_size))
    if not train or not general:
        raise InputError(where, f"too little replay text for corpus.block_size={c.block_size}: add general documents")
    wanted = round(domain_blocks * c.replay_ratio / (1 - c.replay_ratio))
    replay = [train[i % len(train)] for i in range(wanted)]  # cycle when the replay text is short
    for name, rows in (("replay", replay), ("general", general)):
        with _Writer(folder / f"{name}.parquet", BLOCKS_COLUMN) as writer:
            for block in rows:
                writer.add({"input_ids": block})
    # the general documents themselves: evaluate scores the held-out ones per document, and leaves the
    # replayed ones out of any independent general set
    with _Writer(folder.parent / GENERAL_DOCUMENTS, GENERAL_COLUMNS) as writer:
        for (doc_id, text), held in zip(docs, splits):
            writer.add({"id": doc_id, "text": text, "split": SPLITS[held]})
    return {"replay_blocks": len(replay), "replay_unique_blocks": min(len(train), wanted), "general_heldout_blocks": len(general)}

def _check_config(cfg) -> None:
    c = cfg.corpus
    if c.block_size < 2:
        raise ConfigError(f"corpus.block_size={c.block_size}: expected at least 2 tokens")
    if c.block_size > cfg.model.max_seq_len:
        raise ConfigError(f"corpus.block_size={c.block_size} exceeds model.max_seq_len={cfg.model.max_seq_len}")
    if not c.paths and not c.sources:
        raise ConfigError("corpus.paths and corpus.sources are empty: name at least one file or folder")
    for where, kind in [("corpus.kind", c.kind), *((f"corpus.sources[{s.path}].kind", s.kind) for s in c.sources),
                        *((f"corpus.instructions[{s.path}].kind", s.kind) for s in c.instructions)]:
        if kind is not None and kind not in KINDS:
            raise ConfigError(f"{where}={kind!r}: expected one of {', '.join(KINDS)}")
    if c.on_error not in ("fail", "skip"):
        raise ConfigError(f"corpus.on_error={c.on_error!r}: expected 'fail' or 'skip'")
    if not 0 <= c.near_duplicate_threshold <= 1:
        raise ConfigError(f"corpus.near_duplicate_threshold={c.near_duplicate_threshold}: expected 0 (off) to 1")
    if not 0 < c.decontam_threshold <= 1:
        raise ConfigError(f"corpus.decontam_threshold={c.decontam_threshold}: expected more than 0, at most 1")


def split_score(seed: int, doc_id: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, document id)."""
    digest = hashlib.sha256(f"{seed}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(scores, heldout_fraction: float) -> bytearray:
    """0 (train) or 1 (heldout) per document; with >= 2 documents each split gets at least one."""
    splits = bytearray(1 if s < heldout_fraction else 0 for s in scores)
    if len(splits) >= 2:
        if not any(splits):  # nobody held out: hold out the document closest to the threshold
            splits[min(range(len(scores)), key=scores.__getitem__)] = 1
        elif all(splits):  # nobody left to train on
            splits[max(range(len(scores)), key=scores.__getitem__)] = 0
    return splits


def _iter_split_texts(documents_path: Path, split: str) -> Iterator[tuple[str, str]]:
    for batch in _parquet().ParquetFile(documents_path).iter_batches(batch_size=BATCH_ROWS, columns=["text", "split"]):
        for text, name in zip(batch.column("text").to_pylist(), batch.column("split").to_pylist()):
            if name == split:
                yield name, text


def _tokenizer(cfg, documents_path: Path):
    """The model's own tokenizer, or (tiny) one trained on the train split."""
    if cfg.model.tokenizer == "model":
        return source_tokenizer(cfg.model)
    texts = (text for _, text in _iter_split_texts(documents_path, "train"))
    return train_tokenizer(texts, cfg.model.vocab_size)


def _pack(documents_path: Path, tokenizer, block_size: int, folder: Path, progress, counts: dict) -> dict:
    """Each split's documents packed by `pack` (rungs.curation) into its blocks file: {split: blocks, split_tokens: real tokens}."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = {}
    for name in SPLITS:
        texts = (text for _, text in _iter_split_texts(documents_path, name))
        bar = progress(texts, total=counts[name], desc=f"corpus: packing {name}", unit="doc")
        n = tokens = 0
        try:
            with _Writer(folder / f"{name}.parquet", BLOCKS_COLUMN) as writer:
                for block in pack(bar, tokenizer, block_size):
                    writer.add({"input_ids": block})
                    n += 1
                    tokens += sum(1 for t in block if t != tokenizer.pad_token_id)
        finally:
            bar.close()
        blocks[name] = n
        blocks[f"{name}_tokens"] = tokens
    return blocks


def _parquet():
    """pyarrow.parquet, imported when the stage runs: rungs.pipeline imports this module to fingerprint it."""
    import pyarrow.parquet as pq

    return pq


class _Writer:
    """Rows into a parquet file, one row group per BATCH_ROWS rows, with fixed options. `columns` is a tuple of
    string (or BOOL_COLUMNS) columns, or BLOCKS_COLUMN for token blocks."""

    def __init__(self, path: Path, columns: tuple[str, ...] | str):
        import pyarrow as pa

        self.path = Path(path)
        self.table = pa.Table
        self.schema = (pa.schema([(BLOCKS_COLUMN, pa.list_(pa.int32()))]) if columns == BLOCKS_COLUMN
                       else pa.schema([(name, pa.bool_() if name in BOOL_COLUMNS else pa.string()) for name in columns]))
        self.rows: list[dict] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = _parquet().ParquetWriter(str(self.path), self.schema, **PARQUET_OPTIONS)
        self.closed = False

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            table = self.table.from_pylist(self.rows, schema=self.schema)
            self.writer.write_table(table, row_group_size=BATCH_ROWS)
            self.rows = []

    def close(self) -> None:
        if not self.closed:
            self._flush()
            self.writer.close()
            self.closed = True

    def abort(self) -> None:
        """Close without flushing buffered rows (after an error); a no-op once closed."""
        if not self.closed:
            self.rows = []
            self.writer.close()
            self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
