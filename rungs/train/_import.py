"""The base import, streamed: a checkpoint becomes a text-only model directory one tensor at a time.

Neither the source model nor the imported one is ever built in memory. Each source tensor is read on its
own (safetensors with plain reads, not a memory map whose pages would stay resident; a GGUF tensor is
dequantised alone), renamed to `Gemma3ForCausalLM`'s key, cast to the hardware's dtype and added to an output shard, which is
written and freed when it reaches `SHARD_BYTES` (safetensors writes it without a second copy). Host
memory therefore stays bounded by one output shard (or the largest tensor, the embedding, if larger), the
source tensor being cast and the runtime, whatever the model's size; `rungs.pipeline`'s plan counts exactly these terms (bench/README.md has the measurement).

Text-only: a Gemma 3 checkpoint with a vision tower (google/gemma-3-27b-it and -pt are
`Gemma3ForConditionalGeneration`, keys `language_model.model.*`, `vision_tower.*`,
`multi_modal_projector.*`) is imported as its language model: the `text_config` becomes the model's
config (`Gemma3ForCausalLM`), the language model's tensors are renamed, the vision tower and the
projector are skipped and counted. Every stage after `base` loads a model that has no vision module,
so all-linear LoRA reaches only the language model's linears and the plan's parameter count is the
loaded model's.
"""

from __future__ import annotations

import gc
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import torch

from rungs.kernel import ConfigError, InputError, ModelConfig

from ._weights import gguf_config, gguf_file, hf_dir

SHARD_BYTES = 2 * 10**9  # output shard size: bounds the import's memory (and save_model's, see _models)
WEIGHTS_INDEX = "model.safetensors.index.json"
# source key prefix -> the text-only model's (first match wins); None: a module the text model does not have
KEY_PREFIXES: tuple[tuple[str, str | None], ...] = (
    ("language_model.model.", "model."),  # the Hub's multimodal layout (what transformers 5 also saves)
    ("language_model.lm_head.", "lm_head."),
    ("model.language_model.", "model."),  # transformers' in-memory multimodal layout
    ("vision_tower.", None),
    ("multi_modal_projector.", None),
    ("model.vision_tower.", None),
    ("model.multi_modal_projector.", None),
    ("model.", "model."),  # already text-only (gemma-3-1b, our own artifacts)
    ("lm_head.", "lm_head."),
)


def text_key(key: str) -> str | None:
    """The text-only model's name for a checkpoint key; None for the vision tower and the projector."""
    for prefix, target in KEY_PREFIXES:
        if key.startswith(prefix):
            return None if target is None else target + key[len(prefix):]
    raise InputError(key, "a checkpoint key that is neither the language model's nor the vision tower's: not a Gemma 3 checkpoint?")


def text_config(config):
    """A multimodal config's `text_config` (as a causal-LM config), or the config itself when text-only."""
    text = getattr(config, "text_config", None)
    if text is None:
        return config
    if getattr(config, "tie_word_embeddings", None) is not None:
        text.tie_word_embeddings = config.tie_word_embeddings
    return text


def expected_tensors(config) -> tuple[str, dict[str, tuple[int, ...]]]:
    """The causal-LM class `config` builds and the key -> shape of every tensor it saves (a tied LM head is
    saved once, as the embedding). Built on the meta device: no memory, no time."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return type(model).__name__, {name: tuple(p.shape) for name, p in model.named_parameters()}


SHAPE_KEYS = {  # ModelConfig key -> the HF text config's
    "vocab_size": "vocab_size", "hidden_size": "hidden_size", "intermediate_size": "intermediate_size",
    "num_layers": "num_hidden_layers", "num_heads": "num_attention_heads", "num_kv_heads": "num_key_value_heads",
    "head_dim": "head_dim", "tie_embeddings": "tie_word_embeddings",
}


def check_shape(model: ModelConfig, config) -> None:
    """The profile's shape is the checkpoint's: `rungs plan` counts from the profile, so it must be the model loaded."""
    wrong = [f"model.{ours}={getattr(model, ours)} but the checkpoint has {getattr(config, theirs, None)}"
             for ours, theirs in SHAPE_KEYS.items() if getattr(model, ours) != getattr(config, theirs, None)]
    if wrong:
        raise ConfigError(f"the {model.name} profile does not describe the checkpoint it imports ({'; '.join(wrong)}): "
                          "fix conf/model/ (or the overrides) so that `rungs plan` counts the model that is loaded")


class ShardWriter:
    """safetensors shards of at most `max_bytes` (a larger single tensor gets a shard of its own), then the index."""

    def __init__(self, out: Path, max_bytes: int = SHARD_BYTES):
        self.out, self.max_bytes = Path(out), max_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.files: list[list[str]] = []  # names per written shard
        self.total_bytes = 0
        self.parameters = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_bytes:
            self.flush()
        self.pending[name] = tensor.contiguous()
        self.pending_bytes += size
        self.total_bytes += size
        self.parameters += tensor.numel()

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self.pending:
            return
        save_file(self.pending, str(self.out / f"shard-{len(self.files):05d}.tmp"), metadata={"format": "pt"})
        self.files.append(sorted(self.pending))
        self.pending, self.pending_bytes = {}, 0
        gc.collect()

    def close(self) -> list[Path]:
        """Name the shards as transformers does (one: model.safetensors) and write the index; the files written."""
        self.flush()
        n = len(self.files)
        names = ["model.safetensors"] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        for i, name in enumerate(names):
            os.replace(self.out / f"shard-{i:05d}.tmp", self.out / name)
        if n > 1:
            index = {"metadata": {"total_parameters": self.parameters, "total_size": self.total_bytes},
                     "weight_map": {key: name for name, keys in zip(names, self.files) for key in keys}}
            (self.out / WEIGHTS_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        return [self.out / name for name in names]


def _safetensors_files(root: Path) -> list[Path]:
    index = root / WEIGHTS_INDEX
    if index.exists():
        return [root / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise InputError(root, "no *.safetensors weights in this model directory")
    return files


SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


def safetensors_header(path: Path) -> dict[str, dict]:
    """Key -> {dtype, shape, data_offsets} of a .safetensors file (its JSON header; no tensor is read)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header


def read_safetensors(path: Path, keys=None) -> Iterator[tuple[str, torch.Tensor]]:
    """(key, tensor) of a .safetensors file in file order, each read into its own memory with plain reads.

    Not memory-mapped on purpose: the pages of a mapping count in the process's resident memory while it
    is open (a whole 5 GB Hub shard), pages read into the page cache do not, so the import's resident
    memory is the tensors it holds and nothing else.
    """
    header = safetensors_header(path)
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        start = 8 + size
        for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            if keys is not None and key not in keys:
                continue
            tensor = torch.empty(info["shape"], dtype=SAFETENSORS_DTYPES[info["dtype"]])
            begin, end = info["data_offsets"]
            if end > begin:
                fh.seek(start + begin)
                view = memoryview(tensor.view(-1).view(torch.uint8).numpy())
                if fh.readinto(view) != end - begin:
                    raise InputError(path, f"truncated: {key} ends past the end of the file")
            yield key, tensor


def _hf_tensors(root: Path, skipped: dict[str, int]) -> Iterator[tuple[str, torch.Tensor]]:
    """(text-only key, tensor) for every language-model tensor of a Hugging Face checkpoint, one at a time."""
    for path in _safetensors_files(root):
        wanted = {}
        for key, info in safetensors_header(path).items():
            name = text_key(key)
            if name is None:
                module = ".".join(key.split(".")[: 2 if key.startswith("model.") else 1])
                skipped[module] = skipped.get(module, 0) + int(torch.Size(info["shape"]).numel())
            else:
                wanted[key] = name
        for key, tensor in read_safetensors(path, wanted):
            yield wanted[key], tensor


def _gguf_tensors(path: Path, config) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF key, tensor) for every GGUF tensor, dequantised one at a time with transformers' own name map
    and per-architecture fixes (Gemma's norms are stored +1)."""
    import numpy as np
    from gguf import GGUFReader, dequantize
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor, get_gguf_hf_weights_map, read_field

    reader = GGUFReader(str(path))
    architecture = read_field(reader, "general.architecture")[0]
    processor = TENSOR_PROCESSORS.get(architecture, TensorProcessor)(config=config.to_dict())
    with torch.device("meta"):
        names = get_gguf_hf_weights_map(AutoModelForCausalLM.from_config(config), processor)
    for tensor in reader.tensors:
        result = processor.process(weights=dequantize(tensor.data, tensor.tensor_type), name=tensor.name,
                                   tensor_key_mapping=names, parsed_parameters={"config": config.to_dict()})
        if result.name in names:
            yield names[result.name], torch.from_numpy(np.ascontiguousarray(result.weights))


def source_config(model: ModelConfig):
    """The text-only config of the source checkpoint (a multimodal Gemma 3 config's text_config)."""
    from transformers import AutoConfig

    if model.source == "gguf":
        return gguf_config(gguf_file(model.package))
    if model.source == "hf":
        return text_config(AutoConfig.from_pretrained(hf_dir(model.path)))
    raise ConfigError(f"model.source={model.source!r} cannot be imported")


def import_streamed(model: ModelConfig, dtype: torch.dtype, out: Path, *, shard_bytes: int = SHARD_BYTES, progress=None) -> dict:
    """Write the text-only model of `model`'s checkpoint into `out` (config.json, generation_config.json,
    safetensors shards + index) in `dtype`, one tensor in memory at a time. Returns what it did:
    parameters (written), skipped (module -> parameters not imported: the vision tower), shards."""
    from transformers import GenerationConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = source_config(model)
    check_shape(model, config)
    architecture, expected = expected_tensors(config)
    skipped: dict[str, int] = {}
    if model.source == "gguf":
        tensors = _gguf_tensors(gguf_file(model.package), config)
    else:
        tensors = _hf_tensors(hf_dir(model.path), skipped)
    writer = ShardWriter(out, shard_bytes)
    bar = progress(total=len(expected), desc=f"base: importing {model.name}") if progress else None
    seen: set[str] = set()
    for name, tensor in tensors:
        if name == "lm_head.weight" and name not in expected:
            continue  # tied to the embedding: not saved
        if name not in expected:
            raise InputError(name, f"the checkpoint has a tensor the text-only {architecture} has no place for")
        if tuple(tensor.shape) != expected[name]:
            raise InputError(name, f"shape {tuple(tensor.shape)} in the checkpoint, {expected[name]} in its config")
        writer.add(name, tensor.to(dtype))
        seen.add(name)
        del tensor
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    missing = sorted(set(expected) - seen)
    if missing:
        raise InputError(", ".join(missing[:5]), f"{len(missing)} tensor(s) of the text model are not in the checkpoint")
    files = writer.close()
    config.dtype, config.architectures = dtype, [architecture]
    config.save_pretrained(out)
    GenerationConfig.from_model_config(config).save_pretrained(out)
    return {"parameters": writer.parameters, "skipped": skipped, "shards": len(files), "bytes": writer.total_bytes}
