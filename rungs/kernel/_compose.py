"""The one place that composes Hydra config (conf/) into a typed, checked RungsConfig.

- Every override's key is checked against the schema first: a mistyped key is an error that names the
  closest real one (`cpt.lrr` -> did you mean cpt.lr?), instead of Hydra's hint to append it with `+`.
- A composition is remembered, keyed by the overrides, the content of every conf/ file and the code
  and library versions that shape it: in the process (the CLI, the flow and every stage task of one run
  share one Hydra composition, 0.6 s each) and on disk (`$RUNGS_CACHE`, else ~/.cache/rungs), so an
  unchanged rerun composes nothing. A conf/ file that interpolates (`${...}`) could depend on the
  environment: then nothing is remembered on disk. Callers get their own copy, so mutating one never
  reaches another.
- After composing, `_check` refuses every numeric value outside its key's range (the schema's `num`),
  all of them in one message naming key, value and allowed range, then values that cannot work together
  (nf4 with full cpt, an unknown stage in pipeline.stages, a gate metric without a direction).
- Two values are resolved there too: the half of a model pair the run uses (`resolve_variant`: rag and
  sft start from the instruction-tuned checkpoint, full from the pretrained one) and a GPU profile's
  budget from its card's usable memory (`hardware.card`, CARDS).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import pickle
import sys
import threading
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from omegaconf import OmegaConf

from ._errors import ConfigError
from ._ladder import KINDS, STAGEABLE
from ._paths import CONF_DIR
from ._schema import CARDS, RungsConfig, card_gib, check_ranges
from ._text import did_you_mean

_CACHE_SIZE = 16
_cache: dict[tuple, RungsConfig] = {}
_cache_lock = threading.Lock()
_SHAPING_CODE = ("_schema.py", "_compose.py", "_ladder.py")  # what a composition is checked and typed with


def compose(overrides: list[str] | tuple[str, ...] = ()) -> RungsConfig:
    """Compose conf/config.yaml with Hydra overrides into a validated RungsConfig (a fresh copy per call)."""
    overrides = tuple(overrides)
    digest, interpolates = _conf_digest()
    key = (overrides, digest)
    with _cache_lock:
        cfg = _cache.get(key)
    if cfg is None:
        stored = None if interpolates else _disk_path(overrides, digest)
        cfg = _read_pickle(stored) if stored else None
        if cfg is None:
            cfg = _compose(overrides)
            if stored:
                _write_pickle(stored, cfg)
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = cfg
    return copy.deepcopy(cfg)


def _conf_digest() -> tuple[str, bool]:
    """(sha256 of every conf/ file's name and content, whether any of them interpolates `${...}`)."""
    h = hashlib.sha256()
    interpolates = False
    for dirpath, dirnames, filenames in sorted(os.walk(CONF_DIR)):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                data = fh.read()
            interpolates = interpolates or b"${" in data
            h.update(os.path.relpath(path, CONF_DIR).encode() + b"\0" + data + b"\0")
    return h.hexdigest(), interpolates


def _disk_path(overrides: tuple[str, ...], digest: str) -> Path | None:
    """Where a composition is remembered between processes: keyed by everything it depends on."""
    from importlib import metadata

    h = hashlib.sha256(json.dumps(overrides).encode() + digest.encode())
    here = Path(__file__).parent
    for name in _SHAPING_CODE:
        h.update((here / name).read_bytes())
    for dist in ("hydra-core", "omegaconf"):
        h.update(metadata.version(dist).encode())
    h.update(sys.version.encode())
    root = os.environ.get("RUNGS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rungs")
    return Path(root) / "config" / f"{h.hexdigest()[:32]}.pickle"


def _read_pickle(path: Path) -> RungsConfig | None:
    try:
        with open(path, "rb") as fh:
            cfg = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None  # not there yet, or written by other code: compose instead
    return cfg if isinstance(cfg, RungsConfig) else None


def _write_pickle(path: Path, cfg: RungsConfig) -> None:
    """Atomically (a reader never sees half a file); a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(cfg, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass


def _compose(overrides: tuple[str, ...]) -> RungsConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    for word in overrides:
        check_override(word)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            raw = hydra_compose(config_name="config", overrides=list(overrides))
        merged = OmegaConf.merge(OmegaConf.structured(RungsConfig), raw)
        cfg = OmegaConf.to_object(merged)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"bad configuration: {exc}") from exc
    _check(cfg)
    return cfg


# ---------------------------------------------------------------------------------------------- keys


def groups() -> dict[str, list[str]]:
    """Config group -> its options (conf/<group>/<option>.yaml), e.g. model -> [gemma3-270m, gemma3-27b, tiny]."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(CONF_DIR.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_"))
    }


def choices(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """The option each config group takes: conf/config.yaml's defaults list, then `group=option` overrides."""
    picked: dict[str, str] = {}
    for entry in OmegaConf.load(CONF_DIR / "config.yaml").get("defaults", []):
        if isinstance(entry, str) or not hasattr(entry, "items"):
            continue  # _self_
        for group, option in entry.items():
            picked[str(group)] = str(option)
    options = groups()
    for word in overrides:
        key, sep, value = word.lstrip("+").partition("=")
        if sep and key in options:
            picked[key] = value
    return picked


def known_keys() -> list[str]:
    """Every dotted key of the schema (a dict-valued section shows its values' keys under <name>)."""
    out: list[str] = []

    def walk(typ: Any, prefix: str) -> None:
        typ = _plain(typ)
        if dataclasses.is_dataclass(typ):
            for name, sub in get_type_hints(typ).items():
                key = f"{prefix}.{name}" if prefix else name
                out.append(key)
                walk(sub, key)
        elif get_origin(typ) is dict:
            walk(get_args(typ)[1], f"{prefix}.<name>")

    walk(RungsConfig, "")
    return out


def check_override(word: str) -> None:
    """Refuse an override whose key the schema does not have, or a group option conf/ does not have."""
    key, sep, value = word.lstrip("~+").partition("=")
    if not sep or "@" in key or key.startswith("hydra"):
        return  # a deletion, a package override or Hydra's own settings: Hydra checks those
    options = groups()
    if key in options:
        if value not in options[key] and value != "null":
            raise ConfigError(
                f"{key}={value}: conf/{key}/ has no option {value!r}{did_you_mean(value, options[key])}; "
                f"options: {', '.join(options[key])}"
            )
        return
    parts = key.split(".")
    typ: Any = RungsConfig
    for i, part in enumerate(parts):
        typ = _plain(typ)
        if dataclasses.is_dataclass(typ):
            fields = get_type_hints(typ)
            if part not in fields:
                where = ".".join(parts[:i])
                raise ConfigError(
                    f"unknown config key {key!r}{did_you_mean(key, _candidates(parts))}: "
                    + (f"{where} has no {part!r}; `rungs config {parts[0]}` shows that section" if where
                       else f"the config has no key {part!r}; its keys: {', '.join(fields)}")
                )
            typ = fields[part]
        elif get_origin(typ) is dict:
            typ = get_args(typ)[1]  # any name: promote.metrics.<name>, ops.stages.<name>, ...
        else:
            return  # a list element or a value's own structure: OmegaConf checks it


def _candidates(parts: list[str]) -> list[str]:
    """The schema's keys as this override would spell them: each <name> is the name the override gave."""
    out = []
    for known in known_keys():
        pieces = known.split(".")
        out.append(".".join(parts[i] if p == "<name>" and i < len(parts) else p for i, p in enumerate(pieces)))
    return out


def _plain(typ: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(typ) in (Union, types.UnionType):
        args = [a for a in get_args(typ) if a is not type(None)]
        return args[0] if len(args) == 1 else typ
    return typ


# ---------------------------------------------------------------------------------------------- values


def resolve_variant(cfg: RungsConfig) -> None:
    """Set model.variant, model.path (or model.package) and model.instruction_tuned to the half of a model
    pair this run uses: model.variant when pinned, else the pipeline's (pipeline.variant).

    A model without `variants` is what it is: its own variant (it when instruction_tuned), and a pipeline
    that would prefer the other one runs on it anyway (gemma3-270m ships pretrained only); pinning the
    variant it does not have is an error.
    """
    m, wanted = cfg.model, cfg.pipeline.variant
    if m.variant not in ("auto", "it", "pt"):
        raise ConfigError(f"model.variant={m.variant!r}: expected auto, it or pt")
    if wanted not in ("it", "pt"):
        raise ConfigError(f"pipeline.variant={wanted!r}: expected it or pt")
    unknown = sorted(set(m.variants) - {"it", "pt"})
    if unknown:
        raise ConfigError(f"model.variants: unknown variant(s) {unknown}; a pair is it (instruction-tuned) and pt (pretrained)")
    if not m.variants:
        own = "it" if m.instruction_tuned else "pt"
        if m.variant not in ("auto", own):
            raise ConfigError(f"model.variant={m.variant}: {m.name} comes only {'instruction-tuned (it)' if own == 'it' else 'pretrained (pt)'}")
        m.variant = own
        return
    if m.variant != "auto":
        wanted = m.variant
    if wanted not in m.variants:
        if m.variant != "auto":
            raise ConfigError(f"model.variant={wanted}: {m.name} has no {wanted} checkpoint; model.variants has {', '.join(m.variants)}")
        wanted = next(iter(m.variants))
    if m.source == "gguf":
        m.package = m.variants[wanted]
    else:
        m.path = m.variants[wanted]
    m.variant, m.instruction_tuned = wanted, wanted == "it"


def _resolve_memory(cfg: RungsConfig) -> None:
    hw = cfg.hardware
    if hw.card is not None and hw.card not in CARDS:
        raise ConfigError(f"hardware.card={hw.card!r}: not a known card{did_you_mean(hw.card, list(CARDS))}; "
                          f"known: {', '.join(CARDS)} (or set hardware.memory_gb to the card's memory in GiB)")
    if hw.memory_gb is None:
        if hw.card is None:
            raise ConfigError("hardware.memory_gb is null and no hardware.card names the card: set one of them")
        hw.memory_gb = card_gib(hw.card)
    if hw.memory_gb <= 0 or (hw.host_memory_gb is not None and hw.host_memory_gb <= 0):
        raise ConfigError("hardware.memory_gb and hardware.host_memory_gb must be > 0")
    if hw.host_memory_gb is None and hw.device == "cpu":
        hw.host_memory_gb = hw.memory_gb  # on a CPU the device's memory is the host's


def _check(cfg: RungsConfig) -> None:
    errors = check_ranges(cfg)  # every numeric key against its range (rungs.kernel._schema.num), all at once
    pairs = (
        ("index.overlap_words", cfg.index.overlap_words, "<", "index.chunk_words", cfg.index.chunk_words),
        ("corpus.min_chars", cfg.corpus.min_chars, "<=", "corpus.max_chars", cfg.corpus.max_chars),
        ("evaluate.perplexity.stride", cfg.evaluate.perplexity.stride, "<=", "evaluate.perplexity.window",
         cfg.evaluate.perplexity.window),
        # train conditions must remain: what is left after test and dev is what the retriever learns from
        ("retriever.dev_conditions", cfg.retriever.dev_conditions, "<", "1 - retriever.test_conditions",
         round(1 - cfg.retriever.test_conditions, 12)),
    )
    for key, value, op, other, limit in pairs:
        if not errors and not (value < limit if op == "<" else value <= limit):
            errors.append(f"{key}={value}: must be {op} {other} ({limit})")
    if errors:
        head = f"{len(errors)} config values are out of range: " if len(errors) > 1 else ""
        raise ConfigError(head + "; ".join(errors))
    resolve_variant(cfg)
    _resolve_memory(cfg)
    _check_operations(cfg)
    unknown = [s for s in cfg.pipeline.stages if s not in STAGEABLE]
    if unknown:
        raise ConfigError(f"pipeline.stages: unknown stage(s) {unknown}; expected some of {list(STAGEABLE)}")
    if cfg.cpt.method not in ("full", "lora"):
        raise ConfigError(f"cpt.method={cfg.cpt.method!r}: expected 'full' or 'lora'")
    choices = {
        "model.source": (cfg.model.source, ("random", "gguf", "hf")),
        "model.tokenizer": (cfg.model.tokenizer, ("train", "model")),
        "hardware.quant": (cfg.hardware.quant, ("none", "nf4")),
        "hardware.optimizer": (cfg.hardware.optimizer, ("adamw", "adamw_8bit", "paged_adamw_8bit")),
        "hardware.dtype": (cfg.hardware.dtype, ("float32", "bfloat16", "float16")),
        "hardware.strategy": (cfg.hardware.strategy, ("ddp", "fsdp")),
        "sft.deidentify": (cfg.sft.deidentify, ("dialogues", "all", "none")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key}={value!r}: expected one of {', '.join(allowed)}")
    if cfg.hardware.quant == "nf4" and cfg.cpt.method == "full" and "cpt" in cfg.pipeline.stages:
        raise ConfigError("hardware.quant=nf4 freezes 4-bit weights: continued pretraining needs cpt.method=lora (QLoRA)")
    if cfg.hardware.strategy == "fsdp" and cfg.hardware.processes > 1:
        if cfg.hardware.quant == "nf4":
            raise ConfigError("hardware.strategy=fsdp shards full-precision weights; QLoRA (hardware.quant=nf4) on several processes needs hardware.strategy=ddp")
        if cfg.hardware.optimizer != "adamw":
            raise ConfigError(f"hardware.strategy=fsdp needs hardware.optimizer=adamw: bitsandbytes' {cfg.hardware.optimizer} takes no sharded (DTensor) parameters")


def _check_operations(cfg: RungsConfig) -> None:
    """promote and ops: a wrong direction or an unknown stage would only surface at the end of a night."""
    if cfg.promote.missing not in ("block", "skip"):
        raise ConfigError(f"promote.missing={cfg.promote.missing!r}: expected block or skip")
    for name, m in cfg.promote.metrics.items():
        if m.direction not in ("lower", "higher"):
            raise ConfigError(f"promote.metrics.{name}.direction={m.direction!r}: expected lower or higher")
        if not m.metric:
            raise ConfigError(f"promote.metrics.{name}.metric is empty: name the evaluate metric, e.g. domain_ppl_{{rung}}")
    unknown = sorted(set(cfg.ops.stages) - set(KINDS))
    if unknown:
        raise ConfigError(f"ops.stages: unknown stage(s) {unknown}; expected some of {list(KINDS)}")
    bad = sorted(set(cfg.ops.notify.events) - {"failed", "crashed", "refused", "promoted"})
    if bad:
        raise ConfigError(f"ops.notify.events: unknown event(s) {bad}; expected some of failed, crashed, refused, promoted")


def to_dict(obj: Any) -> Any:
    """A plain, JSON-ready dict of a config dataclass (for manifests and fingerprints)."""
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    return obj


def section(cfg: RungsConfig, keys: tuple[str, ...]) -> dict:
    """The parts of the config that shape one stage's artifact, keyed by section name.

    A dotted key ("sft.data") takes one field of another section: the corpus stage's decontamination
    depends on the sft held-out split, not on sft's learning rate.
    """
    out = {}
    for key in keys:
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        out[key] = to_dict(value)
    return out
