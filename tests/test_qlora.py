"""The QLoRA path (NF4 weights, LoRA, gradient checkpointing, 8-bit AdamW) runs on the CPU on tiny."""

from __future__ import annotations

from rungs.kernel import compose
from rungs.train import trainable_model
from rungs.pipeline import build, resolve_inputs
from rungs.store import Store

QLORA = ["model=tiny", "hardware.quant=nf4", "cpt.method=lora", "hardware.gradient_checkpointing=true",
         "hardware.optimizer=adamw_8bit", "cpt.max_steps=20", "sft.max_steps=10", "cpt.lr=1e-2"]


def test_qlora_cpt_and_sft_train_on_4bit_weights(tmp_path, progress):
    import bitsandbytes as bnb

    store = Store(tmp_path / "store")
    cfg = compose(QLORA)
    built = {}
    for kind in ("corpus", "base", "cpt", "sft"):
        built[kind] = build(kind, cfg, resolve_inputs(kind, store, built=built, cfg=cfg), store, progress=progress).artifact
    model = trainable_model(built["base"], cfg.hardware, cfg.cpt, lora=True)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    cpt = built["cpt"].metrics
    assert cpt["method"] == "lora" and cpt["train_loss_final"] < cpt["train_loss_first"]
    # QLoRA-CPT publishes full-precision merged weights, loadable without bitsandbytes
    assert (built["cpt"].path / "model" / "model.safetensors").exists()
    assert built["sft"].manifest["config"]["hardware"]["quant"] == "nf4"
