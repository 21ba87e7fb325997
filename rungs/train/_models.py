"""Create, save and load the models every stage works with: full weights, and weights + LoRA adapter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from rungs.curation import load_tokenizer
from rungs.kernel import HardwareConfig, InputError, ModelConfig


def _quiet_transformers() -> None:
    """Keep the stage's own progress bar readable: no shard bars, no notices that change nothing here."""
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # peft calls a renamed transformers method; harmless until transformers 6
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
    # bitsandbytes looks for an optional kernels package that a CPU run does not need
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


_quiet_transformers()

MODEL_DIR = "model"
NON_REENTRANT = {"use_reentrant": False}  # the checkpointing mode torch recommends; works with frozen inputs
ADAPTER_DIR = "adapter"


def torch_dtype(hardware: HardwareConfig) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[hardware.dtype]


# torch's own choice, read before anything in this process changes it: hardware.threads=0 restores it
DEFAULT_THREADS = torch.get_num_threads()


def setup_torch(hardware: HardwareConfig, seed: int) -> None:
    """Threads and seeds: the same config and seed give the same weights.

    The thread count is always set: the CPU kernels' reduction order (and so the last bits of every
    step) depends on it, and code run earlier in the same process (an embedding shard) may have changed it.
    """
    torch.set_num_threads(hardware.threads or DEFAULT_THREADS)
    torch.manual_seed(seed)


def new_tiny_model(model: ModelConfig, tokenizer):
    """A randomly initialised Gemma 3 text model whose vocabulary is the tokenizer's."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=model.hidden_size,
        intermediate_size=model.intermediate_size,
        num_hidden_layers=model.num_layers,
        num_attention_heads=model.num_heads,
        num_key_value_heads=model.num_kv_heads,
        head_dim=model.head_dim,
        max_position_embeddings=model.max_seq_len,
        sliding_window=model.sliding_window,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return Gemma3ForCausalLM(config)


def save_model(model, tokenizer, out: Path) -> Path:
    """model/ with safetensors weights, config, generation config and tokenizer: loadable on its own."""
    target = out / MODEL_DIR
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


def model_dir(artifact) -> Path:
    path = Path(artifact.path) / MODEL_DIR
    if not (path / "config.json").exists():
        raise InputError(path / "config.json", f"artifact {getattr(artifact, 'id', '?')} holds no model; expected a base or cpt artifact")
    if "text_config" in json.loads((path / "config.json").read_text()):
        raise InputError(
            path / "config.json",
            f"artifact {getattr(artifact, 'id', '?')} holds a multimodal model (vision tower included), imported before rungs "
            "imported Gemma 3 text-only: rebuild the base (`rungs stage base`, base VERSION 3)",
        )
    return path


def load_model(artifact, hardware: HardwareConfig, *, quantize: bool = False):
    """The full model stored in a base/cpt artifact, in the hardware's dtype (NF4 4-bit when asked)."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch_dtype(hardware)}
    if quantize and hardware.quant == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,  # quantises the quantisation constants too: ~0.4 bit/param saved
            bnb_4bit_compute_dtype=torch_dtype(hardware),
        )
        kwargs["device_map"] = {"": hardware.device if hardware.device != "cuda" else 0}
    model = AutoModelForCausalLM.from_pretrained(model_dir(artifact), **kwargs)
    return model if "device_map" in kwargs else model.to(hardware.device)


def trainable_model(artifact, hardware: HardwareConfig, train, *, lora: bool):
    """The model a training stage optimises: LoRA adapters (on NF4 weights under QLoRA) or all weights."""
    model = load_model(artifact, hardware, quantize=lora)
    if lora and hardware.quant == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=hardware.gradient_checkpointing, gradient_checkpointing_kwargs=NON_REENTRANT
        )
        # peft upcasts every unquantised weight to float32; the frozen (tied) embedding is by far the
        # largest (262k x hidden: +2.6 GiB for 27B), so it goes back to the compute dtype
        model.get_input_embeddings().to(torch_dtype(hardware))
    elif hardware.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=NON_REENTRANT)
        model.enable_input_require_grads()
    return add_lora(model, train) if lora else model


def host_rebuild(artifact, hardware: HardwareConfig, train, *, lora: bool):
    """What `rungs.train.train` calls under FSDP to get an unsharded copy for saving: the same
    trainable model, built in host memory (a GPU already holds this rank's shards)."""
    host = dataclasses.replace(hardware, device="cpu", gradient_checkpointing=False)
    return lambda: trainable_model(artifact, host, train, lora=lora)


def model_tokenizer(artifact):
    """The tokenizer saved beside a model artifact's weights."""
    return load_tokenizer(model_dir(artifact))


def adapter_dir(artifact) -> Path:
    return Path(artifact.path) / ADAPTER_DIR


def load_with_adapter(model_artifact, adapter: Path, hardware: HardwareConfig, *, quantize: bool = False):
    """Base/cpt weights with a LoRA adapter directory applied (plain PeftModel.from_pretrained)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(load_model(model_artifact, hardware, quantize=quantize), adapter)


def merged(peft_model, base_artifact, hardware: HardwareConfig, scratch: Path):
    """Full weights with the trained adapter folded in.

    Under QLoRA the trained weights are 4-bit: the adapter is merged into a full-precision reload of
    the base instead, so the published model loses nothing to quantisation.
    """
    if hardware.quant != "nf4":
        return peft_model.merge_and_unload()
    adapter = Path(scratch) / "adapter-to-merge"
    peft_model.save_pretrained(adapter)
    return load_with_adapter(base_artifact, adapter, hardware).merge_and_unload()


NOT_LANGUAGE = ("vision_tower", "multi_modal_projector", "vision_model")  # module names LoRA must never reach


def add_lora(model, train):
    """Wrap `model` with LoRA adapters as configured (TrainConfig's lora_* keys); only adapters train.

    The model is text-only (the base import keeps a Gemma 3 checkpoint's language model), so all-linear
    wraps exactly the decoder layers' q, k, v, o, gate, up and down projections (not the tied LM head):
    what `rungs plan` counts. A model that still carries a vision module is refused rather than adapted.
    """
    from peft import LoraConfig, get_peft_model

    stray = [name for name, _ in model.named_modules() if any(part in name for part in NOT_LANGUAGE)]
    if stray:
        raise InputError(stray[0], "the model carries a vision module; LoRA adapts text-only models (rungs.train.import_streamed)")
    config = LoraConfig(
        r=train.lora_r,
        lora_alpha=train.lora_alpha,
        lora_dropout=train.lora_dropout,
        target_modules=train.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)
