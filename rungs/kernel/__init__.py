"""The kernel: what every room of rungs may use, and nothing above it.

- errors a user can act on (`InputError` names file and line, `ConfigError` the key, `StoreError` the ref);
- the configuration: the typed schema of conf/ and `compose`, the one place that runs Hydra;
- the ladder: every artifact kind, its inputs, whether it trains or holds weights, its key metrics;
- where the project is (`PROJECT_ROOT`, `resolve_path`), file hashing, provenance (code, host, user);
- progress bars, the shard mapper stages hand their independent work to, bootstrap intervals, and the
  small text helpers (times, sizes, "did you mean") every command prints with.

Import from here (`from rungs.kernel import compose`), never from the private modules behind it.
"""

from ._compose import check_override, choices, compose, groups, known_keys, section, to_dict
from ._errors import ConfigError, InputError, RungsError, StoreError
from ._hashing import file_sha256, hash_file
from ._ladder import FULL_WEIGHTS, KINDS, LADDER, MODEL_RUNGS, MODELS, PIPELINE, STAGEABLE, TRAINING, Rung, rung
from ._paths import CONF_DIR, PROJECT_ROOT, display_path, resolve_path
from ._progress import Progress, progress_factory
from ._provenance import code_info, run_info
from ._schema import (
    CARDS,
    CORPUS_BOILERPLATE,
    AnswersConfig,
    CorpusConfig,
    CptConfig,
    EvaluateConfig,
    GateMetric,
    HardwareConfig,
    IndexConfig,
    ModelConfig,
    NotifyConfig,
    OpsConfig,
    PerplexityConfig,
    PipelineConfig,
    PromoteConfig,
    PromptConfig,
    RedFlagConfig,
    RetrieverConfig,
    RungsConfig,
    SftConfig,
    SourceConfig,
    StageOps,
    TextSetConfig,
    TrainConfig,
    TriageConfig,
    card_gib,
)
from ._shards import Mapper, local_map, shard_mapper, use_shard_mapper
from ._stats import interval, metric_entries
from ._text import did_you_mean, flatten, human_bytes, human_duration, replace_section, short_value, utc_now

__all__ = [
    "CARDS", "CONF_DIR", "CORPUS_BOILERPLATE", "FULL_WEIGHTS", "KINDS", "LADDER", "MODELS", "MODEL_RUNGS", "PIPELINE",
    "PROJECT_ROOT", "STAGEABLE", "TRAINING", "AnswersConfig", "ConfigError", "CorpusConfig", "CptConfig", "EvaluateConfig",
    "GateMetric", "HardwareConfig", "IndexConfig", "InputError", "Mapper", "ModelConfig", "NotifyConfig", "OpsConfig",
    "PerplexityConfig", "PipelineConfig", "Progress", "PromoteConfig", "PromptConfig", "RedFlagConfig", "Rung",
    "RetrieverConfig", "RungsConfig", "RungsError", "SftConfig", "SourceConfig", "StageOps", "StoreError", "TextSetConfig",
    "TrainConfig", "TriageConfig", "card_gib", "check_override", "choices", "code_info", "compose", "did_you_mean", "display_path", "file_sha256",
    "flatten", "groups", "hash_file", "human_bytes", "human_duration", "interval", "known_keys", "local_map",
    "metric_entries", "progress_factory", "replace_section", "resolve_path", "run_info", "rung", "section",
    "shard_mapper", "short_value", "to_dict", "use_shard_mapper", "utc_now",
]
