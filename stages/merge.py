"""merge: a LoRA adapter folded into the weights it was trained on, published as a plain full model.

For serving without PEFT, or as the base of a further rung; the lineage names both the model and the
adapter. Not part of the pipelines: `rungs merge REF` runs it for an sft artifact.
"""

from __future__ import annotations

from pathlib import Path

from rungs.kernel import InputError

VERSION = 1
CONFIG = ("hardware",)


def sources(cfg) -> list[Path]:
    return []


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    # torch and transformers load here, not at import: rungs.pipeline imports this module to fingerprint it
    from rungs.train import adapter_dir, load_with_adapter, model_tokenizer, save_model, setup_torch

    trained_on = inputs["sft"].inputs.get("model")
    if trained_on != inputs["model"].id:
        raise InputError(
            f"inputs.model={inputs['model'].ref}",
            f"adapter {inputs['sft'].ref} was trained on {trained_on}, not {inputs['model'].id}: merge it into its own model",
        )
    setup_torch(cfg.hardware, 0)
    model = load_with_adapter(inputs["model"], adapter_dir(inputs["sft"]), cfg.hardware).merge_and_unload()
    save_model(model, model_tokenizer(inputs["model"]), out)
    return {"parameters": sum(p.numel() for p in model.parameters())}
