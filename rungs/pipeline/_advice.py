"""Which rung to start on: the strategy quiz's five questions, their scoring, and the command it leads to.

The questions follow the seed article's decision framework for the hospital's assistant: the one
thing that would make the project fail, the data on hand, how dynamic the environment is, the
biggest headache an out-of-the-box model causes, and the honest budget. Each answer adds points to
one or more rungs (`pipeline=rag`, `pipeline=sft`, `pipeline=full`); the table below is the whole
scoring, with the reason shown to the user next to each answer. The highest total wins; a tie goes
to the lower rung, because it is cheaper and the store keeps what it built when you climb.

The advice ends with the exact `rungs run` command. That command is composed here with
the kernel's `compose` (so a bad override fails now, not later) and its memory plan is checked. A model
that comes as a pair (model=gemma3-27b) is printed as the half the recommended pipeline starts from
(model=gemma3-27b-it for rag and sft, model=gemma3-27b-pt for full), so the command names the weights.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from rungs.kernel import CONF_DIR, RungsError, compose

from ._memory import estimate, fits

RUNGS = ("rag", "sft", "full")  # cheapest first: ties go to the earlier one


@dataclass(frozen=True)
class Option:
    key: str  # the flag value and the word a user may type
    label: str  # what the user reads next to the number
    points: dict[str, int]  # rung -> points; absent = 0
    reason: str  # why these points, shown with the advice


@dataclass(frozen=True)
class Question:
    key: str  # --<key> on the command line, the field in --json
    text: str
    options: tuple[Option, ...]

    @property
    def flag(self) -> str:
        return f"--{self.key}"

    def option(self, key: str) -> Option:
        for option in self.options:
            if option.key == key:
                return option
        raise RungsError(f"{self.flag} {key!r}: expected one of {', '.join(o.key for o in self.options)}")


# The scoring. +3 marks an answer that on its own points at a rung, +1/+2 one that favours it, and a
# negative number an answer that works against a rung (its data or budget is missing, or what it
# trains into the weights would go stale).
QUESTIONS: tuple[Question, ...] = (
    Question(
        "failure",
        "What is the one thing that would make this project fail?",
        (
            Option(
                "hallucination",
                "It states facts it cannot back up (a made-up dose, wrong opening hours, no source to check)",
                {"rag": 3},
                # retrieval is the only rung that puts the evidence in front of the model and the reader
                "Grounding: RAG answers from retrieved documents and cites them [1], [2]; training alone can "
                "neither guarantee a fact nor show where it came from.",
            ),
            Option(
                "outdated",
                "It gives out-of-date answers (guidelines, formularies and services change)",
                {"rag": 3, "full": -1},
                # an index is rebuilt in minutes; knowledge in weights waits for the next training run
                "Knowledge in an index is replaced by re-indexing in minutes; knowledge trained into weights is "
                "frozen until the next training run, and continued pretraining puts the most there.",
            ),
            Option(
                "behaviour",
                "It behaves wrongly: cold or rambling tone, wrong format, ignores the escalation protocol",
                {"sft": 3},
                # behaviour is learned from examples; retrieval only changes what the model reads
                "Tone, format and behaviour are learned from examples: instruction tuning (LoRA) changes how the "
                "model answers; retrieval only changes what it reads.",
            ),
            Option(
                "language",
                "It misreads the domain's language (clinical abbreviations, notes, terminology)",
                {"full": 3, "sft": 1},
                # understanding a language lives in the weights: CPT on raw domain text is what teaches it
                "Understanding a domain's language is a property of the weights: continued pretraining on domain "
                "text teaches it; LoRA on examples helps only a little.",
            ),
        ),
    ),
    Question(
        "data",
        "What data do you have on hand today?",
        (
            Option(
                "documents",
                "Reference documents: leaflets, guidelines, an FAQ or a knowledge base",
                {"rag": 3},
                # documents are what an index needs, and nothing a trainer can learn behaviour from
                "Documents are exactly what an index needs; without example answers or a large corpus there is "
                "nothing to train on.",
            ),
            Option(
                "examples",
                "Example conversations or question → answer pairs (a few hundred or more)",
                {"sft": 3, "full": 1},
                # SFT's input; full also needs them for its sft stage
                "Instruction tuning learns from examples of the answers you want; a few hundred good ones are "
                "enough for a LoRA adapter.",
            ),
            Option(
                "corpus",
                "A large unlabelled domain corpus (millions of words of notes, papers, reports) and some examples",
                {"full": 3, "sft": 1},
                # CPT is the only rung that can use unlabelled text at scale
                "Continued pretraining needs a large unlabelled domain corpus; you have one, and the examples "
                "serve its sft stage.",
            ),
            Option(
                "little",
                "Hardly anything yet",
                {"rag": 2, "sft": -1, "full": -2},
                # training on too little data overfits; a prompt over a few documents still works
                "With little data, prompt engineering over a few documents is the rung that can work today; "
                "training on too little data overfits.",
            ),
        ),
    ),
    Question(
        "dynamic",
        "How dynamic is the environment: how often does what the assistant must know change?",
        (
            Option(
                "high",
                "Weekly or faster (schedules, shortages, new protocols)",
                {"rag": 3, "full": -1},
                # retraining weekly is not affordable; re-indexing is
                "Fast-changing knowledge belongs in the index, which a rerun refreshes; retraining every week "
                "costs more than it returns, continued pretraining most of all.",
            ),
            Option(
                "medium",
                "Every few months (guideline revisions)",
                {"rag": 1, "sft": 1},
                # every rung keeps the index, and an adapter is cheap to retrain a few times a year
                "Every rung keeps the index for the changing facts; an adapter is cheap enough to retrain a few "
                "times a year.",
            ),
            Option(
                "low",
                "Rarely: the core knowledge is stable for years",
                {"sft": 1, "full": 2},
                # stable knowledge repays a one-off training investment
                "Stable knowledge and language are worth training into the weights once; they will not go "
                "stale soon.",
            ),
        ),
    ),
    Question(
        "headache",
        "What is the biggest headache an out-of-the-box model causes you?",
        (
            Option(
                "facts",
                "Wrong or invented facts about our documents and services",
                {"rag": 3},
                # the model cannot know your documents unless it reads them
                "A general model cannot know your documents; retrieval hands it the right passage at answer time.",
            ),
            Option(
                "style",
                "Style: too long, wrong format, not warm, does not follow instructions",
                {"sft": 3},
                # style is the textbook case for instruction tuning
                "Style and instruction-following are what instruction tuning changes most cheaply.",
            ),
            Option(
                "jargon",
                "It does not understand our jargon and abbreviations",
                {"full": 3, "sft": 1},
                # vocabulary and usage are learned from lots of raw text, not from a few hundred Q/A pairs
                "Jargon is learned from lots of raw domain text (continued pretraining); examples teach some of "
                "it.",
            ),
            Option(
                "safety",
                "Unsafe answers: it diagnoses, or misses red flags",
                {"rag": 1, "sft": 2},
                # prompt guardrails exist on every rung; consistent refusals are behaviour, learned from examples
                "Guardrails start in the system prompt on every rung; consistent refusals and escalation wording "
                "are behaviour, learned best from examples.",
            ),
        ),
    ),
    Question(
        "budget",
        "What is the honest budget (time, hardware, people)?",
        (
            Option(
                "small",
                "Days, a CPU server or a small GPU, nobody to label data",
                {"rag": 3, "full": -2},
                # RAG needs no training run; CPT needs GPU time and data work this budget does not have
                "RAG needs no training run and runs on a CPU; continued pretraining needs GPU time and data "
                "curation this budget does not cover.",
            ),
            Option(
                "medium",
                "A few weeks, one 24 GB GPU, someone to write or curate examples",
                {"rag": 1, "sft": 2},
                # LoRA on a 24 GB card (QLoRA for big models) is exactly this budget
                "A LoRA adapter trains on one 24 GB GPU (hardware=gpu-24gb) in hours; the weeks go into "
                "writing good examples.",
            ),
            Option(
                "large",
                "Months, 80 GB or several GPUs, a team to curate a corpus",
                {"sft": 1, "full": 3},
                # only this budget pays for continued pretraining done properly
                "Continued pretraining is the most expensive rung; this budget pays for the GPU time and the "
                "corpus curation it needs (hardware=gpu-80gb or multi-gpu).",
            ),
        ),
    ),
)

@dataclass(frozen=True)
class PipelineAdvice:
    """What to say about one recommended pipeline."""

    title: str
    what: str
    data: str  # where the user's own data goes, as overrides
    climb: str  # when to move on


RUNG_INFO = {
    "rag": PipelineAdvice(
        "RAG + prompt engineering",
        "The base model answers from your documents, retrieved and cited; nothing is trained.",
        "Your documents: add corpus.paths=[your/docs] (JSONL, Markdown or text); the default is the sample in "
        "corpora/documents. New documents later: rerun with them; no model is retrained.",
        "If answers are grounded but the tone or format is wrong, climb to pipeline=sft.",
    ),
    "sft": PipelineAdvice(
        "LoRA instruction tuning + RAG",
        "A LoRA adapter on the base model learns your answers' behaviour and tone; the index still supplies "
        "the facts.",
        "Your examples: add sft.data=[your/pairs.jsonl] (question/answer pairs, chat messages or dialogues); "
        "the default is the sample in corpora/instructions.",
        "If it still misreads your jargon and you have a large unlabelled corpus, climb to pipeline=full.",
    ),
    "full": PipelineAdvice(
        "continued pretraining + LoRA + RAG",
        "Continued pretraining teaches the model your domain's language, LoRA then its behaviour, and the "
        "index the facts.",
        "Your data: add corpus.paths=[your/corpus] (unlabelled domain text) and sft.data=[your/pairs.jsonl]; "
        "check memory first with `rungs plan` and the same overrides.",
        "Keep fast-changing facts in the index rather than retraining for each change.",
    ),
}


# --------------------------------------------------------------------------------------------------
# scoring


@dataclass
class Advice:
    answers: dict[str, str]  # question key -> option key
    scores: dict[str, int]
    rung: str
    argv: list[str]  # after `rungs`
    stages: list[str] = field(default_factory=list)
    plan_fits: bool | None = None
    plan_message: str = ""
    model: dict = field(default_factory=dict)  # the weights the command starts from (name, variant, path, why)

    @property
    def command(self) -> str:
        return shlex.join(["rungs", *self.argv])

    def to_dict(self) -> dict:
        info = RUNG_INFO[self.rung]
        return {
            "recommended": self.rung,
            "pipeline": f"pipeline={self.rung}",
            "title": info.title,
            "command": self.command,
            "argv": self.argv,
            "stages": self.stages,
            "scores": self.scores,
            "answers": [
                {
                    "question": q.key,
                    "text": q.text,
                    "answer": (o := q.option(self.answers[q.key])).key,
                    "label": o.label,
                    "points": {r: o.points.get(r, 0) for r in RUNGS},
                    "reason": o.reason,
                }
                for q in QUESTIONS
            ],
            "why": info.what,
            "your_data": info.data,
            "next": info.climb,
            "plan": {"fits": self.plan_fits, "message": self.plan_message},
            "model": self.model,
        }


def score(answers: dict[str, str]) -> tuple[dict[str, int], str]:
    """Total points per rung for a complete set of answers, and the winner (ties: the lower rung)."""
    missing = [q.flag for q in QUESTIONS if q.key not in answers]
    if missing:
        raise RungsError(f"unanswered: {', '.join(missing)}")
    totals = dict.fromkeys(RUNGS, 0)
    for q in QUESTIONS:
        for rung, points in q.option(answers[q.key]).points.items():
            totals[rung] += points
    best = max(RUNGS, key=lambda r: (totals[r], -RUNGS.index(r)))
    return totals, best


VARIANTS = {"it": "instruction-tuned", "pt": "pretrained"}
WHY_VARIANT = {
    "it": "patients talk to a model that was taught to converse",
    "pt": "continued pretraining starts from the pretrained weights; LoRA then trains on the result",
}


def advise(answers: dict[str, str], hardware: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Advice:
    """Score the answers and compose the recommended `rungs run` command (raises ConfigError if it cannot)."""
    totals, rung = score(answers)
    words = [f"pipeline={rung}"] + ([f"hardware={hardware}"] if hardware else []) + list(overrides)
    cfg = compose(words)
    words = _named_half(words, cfg)
    cfg = compose(words)
    ok, message = fits(estimate(cfg), cfg)
    return Advice(dict(answers), totals, rung, ["run", *words], list(cfg.pipeline.stages), ok, message, _model_info(cfg))


def _named_half(words: list[str], cfg) -> list[str]:
    """`model=<pair>` -> `model=<pair>-<variant>` (a conf/model/ option) for the half this config uses."""
    m = cfg.model
    if not m.variants:
        return words
    out = []
    for word in words:
        key, _, value = word.partition("=")
        pinned = f"{value}-{m.variant}"
        out.append(f"model={pinned}" if key == "model" and (CONF_DIR / "model" / f"{pinned}.yaml").exists() else word)
    return out


def _model_info(cfg) -> dict:
    m, wants = cfg.model, cfg.pipeline.variant
    info = {"name": m.name, "variant": m.variant, "instruction_tuned": m.instruction_tuned,
            "path": m.path if m.source == "hf" else None, "package": m.package if m.source == "gguf" else None}
    if m.variant == wants:
        info["why"] = WHY_VARIANT[m.variant]
    elif m.source == "random":
        info["why"] = "a random model for tests and demos"
    else:
        info["why"] = (f"{m.name} comes {VARIANTS[m.variant]} only; pipeline={cfg.pipeline.name} would rather start from the "
                       f"{VARIANTS[wants]} model (model=gemma3-27b picks it)")
    return info
