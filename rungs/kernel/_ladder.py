"""The ladder, declared once: every kind of artifact in build order, what it takes and what it is.

Everything else reads these facts from here: the configuration's stage list (and the stages it may
list besides: `opt_in` ones), the pipeline's DAG (each
stage waits for the producers of its inputs), which stages train (launched by torchrun), which hold
weights (what the assistant can load, what a release promotes) and the key metrics of the end-of-run
table. A stage module (stages/<kind>.py) holds how its kind is built; this table holds what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._errors import ConfigError
from ._text import did_you_mean


@dataclass(frozen=True)
class Rung:
    """One kind of artifact and the stage that builds it."""

    kind: str
    what: str  # one line, for help texts
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input name -> accepted kinds, preferred first
    optional: frozenset[str] = frozenset()  # inputs that may be absent
    trains: bool = False  # runs the training loop: launched on hardware.processes workers by torchrun
    weights: str | None = None  # "full": model/ holds full weights; "adapter": adapter/ holds LoRA on its input model
    pipeline: bool = True  # built by the pipelines; False: on demand (`rungs merge`)
    # built only when pipeline.stages lists it: it needs data a default run does not have (the retriever
    # learns from question-answer pairs about the corpus: retriever=medquad brings MedQuAD's)
    opt_in: bool = False
    key_metrics: tuple[str, ...] = ()  # shown in the end-of-run table

    def describe_inputs(self) -> str:
        """`model (cpt or base), index (optional)`: the inputs as a help text lists them."""
        if not self.inputs:
            return "raw files only"
        return ", ".join(
            f"{name}" + (f" ({' or '.join(kinds)})" if kinds != (name,) else "") + (" (optional)" if name in self.optional else "")
            for name, kinds in self.inputs.items()
        )


LADDER: tuple[Rung, ...] = (
    Rung(
        "deid",
        "a token classifier fine-tuned on annotated notes to find the identifiers the PHI rules miss",
        opt_in=True,  # ~30 min on 2 CPU cores and 2 kB/s at corpus time: a GPU profile's choice, or a hospital's
        key_metrics=("floor", "test_recall", "test_precision", "test_rules_recall"),
    ),
    Rung(
        "corpus",
        "raw text -> cleaned, de-identified, de-duplicated documents, a tokenizer, token blocks",
        inputs={"deid": ("deid",)},  # with it, clinical sources are scrubbed by the rules and the recogniser
        optional=frozenset({"deid"}),
        key_metrics=("documents_kept", "train_blocks", "heldout_blocks"),
    ),
    Rung(
        "base",
        "the starting model and its tokenizer (the corpus' tokenizer for model.tokenizer=train)",
        inputs={"corpus": ("corpus",)},
        optional=frozenset({"corpus"}),
        weights="full",
        key_metrics=("parameters", "vocab_size"),
    ),
    Rung(
        "cpt",
        "continued pretraining on the corpus' token blocks",
        inputs={"base": ("base",), "corpus": ("corpus",)},
        trains=True,
        weights="full",
        key_metrics=("train_loss_first", "train_loss_final", "train_tokens_per_s"),
    ),
    Rung(
        "retriever",
        "an embedder and a reranker fine-tuned on the corpus' question-answer pairs, fusion chosen on dev conditions",
        inputs={"corpus": ("corpus",)},
        opt_in=True,  # conf/pipeline/ presets leave it out: the old flat layout did too (retriever.pairs is empty by default)
        key_metrics=("pairs_train", "dev_hybrid_mrr", "dev_rerank_mrr", "min_relevance"),
    ),
    Rung(
        "index",
        "chunks of the corpus documents, embedded, in FAISS and BM25 indexes",
        # build order puts the retriever first: the index embeds with its embedder and carries its choices
        inputs={"corpus": ("corpus",), "retriever": ("retriever",)},
        optional=frozenset({"retriever"}),
        key_metrics=("chunks", "dim", "index_type", "gate_threshold"),
    ),
    Rung(
        "triage",
        "the emergency classifier the assistant consults first, trained on labelled messages",
        key_metrics=("test_recall", "test_false_alarms", "threshold"),
    ),
    Rung(
        "sft",
        "LoRA instruction tuning; with an index, on grounded examples",
        inputs={"model": ("cpt", "base"), "index": ("index",)},  # the full pipeline tunes cpt, pipeline=sft the base model
        optional=frozenset({"index"}),
        trains=True,
        weights="adapter",
        key_metrics=("train_loss_first", "train_loss_final", "examples"),
    ),
    Rung(
        "evaluate",
        "perplexity, answer NLL, retrieval and end-to-end answers of every rung built",
        inputs={"corpus": ("corpus",), "base": ("base",), "cpt": ("cpt",), "sft": ("sft",), "index": ("index",),
                "triage": ("triage",)},
        optional=frozenset({"base", "cpt", "sft", "index", "triage"}),  # each pipeline builds a different subset of rungs
        key_metrics=(
            "domain_independent_ppl_base", "domain_independent_ppl_cpt", "general_independent_ppl_base",
            "general_independent_ppl_cpt", "answer_nll_base", "answer_nll_sft", "retrieval_recall@5",
            "answers_base_citation_accuracy", "answers_sft_citation_accuracy", "answers_sft_grounded",
            "answers_sft_degenerate", "answers_sft_escalated", "triage_test_recall",
        ),
    ),
    Rung(
        "merge",
        "an sft adapter folded into the model it was trained on",
        inputs={"model": ("cpt", "base", "merge"), "sft": ("sft",)},
        weights="full",
        pipeline=False,
    ),
)

_BY_KIND = {r.kind: r for r in LADDER}
KINDS: tuple[str, ...] = tuple(_BY_KIND)  # build order
STAGEABLE: tuple[str, ...] = tuple(r.kind for r in LADDER if r.pipeline)  # what pipeline.stages may list
PIPELINE: tuple[str, ...] = tuple(r.kind for r in LADDER if r.pipeline and not r.opt_in)  # the default stage list
TRAINING: tuple[str, ...] = tuple(r.kind for r in LADDER if r.trains)
MODELS: tuple[str, ...] = tuple(r.kind for r in reversed(LADDER) if r.weights)  # what can answer, most specialised first
FULL_WEIGHTS: tuple[str, ...] = tuple(k for k in MODELS if _BY_KIND[k].weights == "full")
MODEL_RUNGS: tuple[str, ...] = tuple(k for k in MODELS if _BY_KIND[k].pipeline)  # a release's model rungs, top first


def rung(kind: str) -> Rung:
    """The declaration of `kind`; an unknown kind is an error that names the closest one."""
    found = _BY_KIND.get(kind)
    if found is None:
        raise ConfigError(f"unknown stage {kind!r}{did_you_mean(kind, KINDS)}; stages are {', '.join(KINDS)}")
    return found
