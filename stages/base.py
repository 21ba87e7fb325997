"""base: the starting model and its tokenizer, stored as safetensors."""

from __future__ import annotations

from pathlib import Path

from rungs.errors import ConfigError
from rungs.models import new_tiny_model, save_model, setup_torch
from rungs.tokenizer import load_tokenizer

VERSION = 1
INPUTS = {"corpus": ("corpus",)}  # the tiny model's tokenizer is trained on the corpus
OPTIONAL = frozenset()
CONFIG = ("seed", "model")


def sources(cfg) -> list[Path]:
    return []


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    if cfg.model.source != "random":
        raise ConfigError(f"model.source={cfg.model.source!r}: only 'random' (model=tiny) is implemented so far")
    tokenizer = load_tokenizer(Path(inputs["corpus"].path) / "tokenizer")
    setup_torch(cfg.hardware, cfg.seed)
    model = new_tiny_model(cfg.model, tokenizer)
    save_model(model, tokenizer, out)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "layers": cfg.model.num_layers,
    }
