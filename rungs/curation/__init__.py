"""Corpus curation: raw files in, clean documents, conversations and token blocks out.

- reading: every format (JSONL, CSV, Parquet, text/Markdown, PubMed and MedQuAD XML), streaming, with
  one error policy (`OnError`: fail or skip) that names file, line and reason; `iter_documents`;
- cleaning and quality rules, exact and MinHash near-duplicates, decontamination against evaluation
  text, de-identification (`scrub`, HIPAA Safe Harbor identifiers);
- conversations for instruction tuning and their held-out split, held-out conditions (and their
  test/dev/train split for what learns from question-answer pairs), instruction
  records for the corpus artifact;
- the corpus' own tokenizer and the packing of documents into `<bos>`-led token blocks;
- the raw files behind configured paths and their content hashes (`sources_digest`), which every
  stage's fingerprint and manifest record.

Import from here (`from rungs.curation import iter_documents`), never from the private modules.
"""

from ._clean import DROP_REASONS, Quality, boilerplate_pattern, clean_text, normalize_text, quality_issue, repetition
from ._conversations import (
    conversation,
    is_heldout,
    parse_dialogue,
    read_conversations,
    read_records,
    scrub_messages,
    source_of,
    split_records,
    training_conversation,
)
from ._decontam import DEFAULT_N, DEFAULT_THRESHOLD, Decontaminator, normalize_words
from ._dedup import KeyIndex, NearDuplicates, exact_key, jaccard
from ._documents import Doc, Fields, file_documents, iter_documents
from ._files import DOCUMENT_SUFFIXES, expand_paths, sources_digest
from ._formats import OnError, OnErrorFn, RowError, format_of, iter_rows, read_csv, read_jsonl
from ._instructions import write_records
from ._packing import MIN_SEGMENT, load_blocks, pack
from ._phi import KINDS as PHI_KINDS
from ._phi import PhiSpan, ScrubResult, find_spans, part_of_an_organisation, replace_spans, scrub
from ._phi_model import LABELS as PHI_LABELS
from ._phi_model import MODEL_DIR as PHI_MODEL_DIR
from ._phi_model import Reading as PhiReading
from ._phi_model import Recogniser as PhiRecogniser
from ._phi_model import labelled_windows, merge_spans, rules_and_recogniser, spans_from_pieces, train_recogniser
from ._phi_score import covered, phi_scores, score_note, span_mask
from ._splits import Conditions, condition_split, condition_words, heldout_condition, same_condition
from ._tokenizer import GEMMA_CHAT_TEMPLATE, load_tokenizer, train_tokenizer

__all__ = [
    "DEFAULT_N", "DEFAULT_THRESHOLD", "DOCUMENT_SUFFIXES", "DROP_REASONS", "GEMMA_CHAT_TEMPLATE", "MIN_SEGMENT",
    "PHI_KINDS", "PHI_LABELS", "PHI_MODEL_DIR", "PhiReading", "PhiRecogniser", "covered", "labelled_windows", "merge_spans", "phi_scores", "replace_spans", "rules_and_recogniser",
    "score_note", "span_mask", "spans_from_pieces", "train_recogniser", "Conditions", "Decontaminator", "Doc", "Fields", "KeyIndex", "NearDuplicates", "OnError", "OnErrorFn", "PhiSpan",
    "Quality", "RowError", "ScrubResult", "boilerplate_pattern", "clean_text", "condition_split", "condition_words", "conversation",
    "exact_key", "expand_paths", "file_documents", "find_spans", "format_of", "heldout_condition", "is_heldout",
    "iter_documents", "iter_rows", "jaccard", "load_blocks", "load_tokenizer", "normalize_text", "normalize_words",
    "pack", "parse_dialogue", "part_of_an_organisation", "quality_issue", "read_conversations", "read_csv", "read_jsonl", "read_records",
    "repetition", "same_condition", "scrub", "scrub_messages", "source_of", "split_records", "sources_digest",
    "train_tokenizer", "training_conversation", "write_records",
]
