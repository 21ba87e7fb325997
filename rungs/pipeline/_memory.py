"""Memory planner: the estimated peak memory of every stage for a model × hardware, before anything runs.

`estimate(cfg)` returns one `StagePlan` per memory-heavy stage of the pipeline (base, cpt, sft, evaluate;
corpus and index are small) with the peak split into the terms below, in bytes. `fits(plans, cfg)`
compares each peak with its budget and, when something does not fit, re-estimates the config with
candidate overrides and names the ones that do fit. Two budgets: the device's, `hardware.memory_gb` GiB
per process (on a GPU profile the usable memory of the card it names, `hardware.card`: a "24 GB" L4
has 22.49 GiB), and the host's, `hardware.host_memory_gb`, for the stages that run in host memory on a
GPU profile (where="host": the base import, the merge after QLoRA-CPT, rank 0 gathering an FSDP-trained
model). On a CPU both are the same memory.

The parameters counted are the text-only model's: every stage loads what the base import wrote, and the
import keeps a Gemma 3 checkpoint's language model only (rungs.train.import_streamed skips the vision
tower and projector, ~0.4 B parameters of the 27B, and refuses a checkpoint whose shape is not the
profile's), so these counts are the loaded model's, parameter for parameter.

How each term is computed (P = parameters, from ModelConfig's shapes; d = bytes of hardware.dtype;
tokens = batch × sequence, with batch = the stage's batch_size / hardware.processes, the slice each
process trains on):

- weights: P × d; under NF4 (hardware.quant=nf4, the QLoRA stages) the linear layers take
  0.5 byte/param + the double-quantised absmax constants (1 byte per 64 + 4 bytes per 64·256 params)
  and the embedding and norms stay unquantised. peft's `prepare_model_for_kbit_training` (what
  `rungs.train.trainable_model` calls) casts those to float32; trainable_model casts the frozen
  embedding back to the compute dtype (for Gemma's 262k vocabulary it is the largest term after the
  4-bit linears), so norms count 4 bytes/param and the embedding d.
  On the CPU an NF4 load reads the full-precision safetensors through a memory map that stays mapped
  while the model lives (the unquantised embedding points into it), so its pages count in RSS too.
- trainable: LoRA adapters r·(in+out) per targeted linear (all-linear: q,k,v,o,gate,up,down of every
  layer), in the base layer's dtype (float32 over 4-bit layers). Full fine-tuning: 0 here, the
  trainable parameters are the weights.
- optimizer: AdamW keeps two states of the parameter's dtype (8 bytes/param in float32);
  bitsandbytes' (paged) AdamW8bit 2 bytes/param.
- gradients: one per trainable parameter, in its dtype (×2 with DDP, whose buckets hold a copy).
- FSDP (hardware.strategy=fsdp, processes P > 1): weights, trainable, gradients and optimizer are 1/P
  per process, plus the all-gathered parameters: the root unit (embedding) and two decoder layers. Each
  process first loads the whole model onto its device, then shards it: a "load" row checks that moment,
  and a host-side "gather" row rank 0's unsharded copy for saving.
- activations: what autograd saves for backward, per token and layer, measured with
  `torch.autograd.graph.saved_tensors_hooks` on the Gemma 3 blocks (sdpa attention keeps no T×T
  matrix): full training 11·hidden + 4·intermediate + 4·q_dim + 4·kv_dim elements, LoRA
  6·hidden + 4·intermediate + 3·q_dim + 3·kv_dim + 7·r (the frozen projections save less).
  With gradient checkpointing only each layer's input (hidden per token) is kept, plus one layer
  recomputed in backward together with its gradients (2× that layer). Elements are d bytes, 4 under
  NF4 training (the float32 embedding makes the residual stream float32). On the CPU +50 % for what
  glibc's arenas keep of freed activation blocks (peak RSS runs above the live bytes).
- logits: batch × seq × vocab, once in float32 (4 bytes; 6 when the model is 16-bit, whose own logits
  are alive while they are upcast). rungs' cross-entropy (`_CrossEntropy` in rungs/train/_training.py) keeps only
  the logits for backward and overwrites them in place with their gradient; its logsumexp runs over
  ~64 MiB slices (no second (N, vocab) copy). Evaluation (no grad, the same loss) holds the same bytes.
- runtime: on the CPU the resident size of python + torch + transformers + peft: 444 MiB measured
  after the imports (torch 2.13, transformers 5.2x, 2-core AVX2 host), 448 MiB here; plus the
  tokenizer a stage loads, 1,880 bytes per vocabulary entry (Gemma's 262k tokenizer: 470 MiB
  resident). On a GPU: the CUDA context, cuBLAS/bitsandbytes workspaces and caching-allocator slack,
  1 GiB (the tokenizer lives in host memory).

The terms are summed: a conservative peak (gradients are still being produced while the logits'
backward runs). Measured against peak RSS (VmHWM) on the CPU this stays within 25 % (tests/test_plan.py).

The base import is streamed (rungs.train.import_streamed): one tensor is read, cast and added to an
output shard of at most 2 GB (SHARD_BYTES; a larger tensor, the embedding, gets its own), which is written
and freed. Its peak is the runtime and tokenizer, one output shard, the source tensor being cast when the
dtype changes (Hugging Face checkpoints of Gemma 3 are bfloat16), and for a GGUF the mapped file plus the
float32 of the tensor being dequantised. It does not grow with the model: measured on gemma3-270m from
its GGUF 2.59 GiB (estimate 2.76 GiB); the 27B from its Hugging Face shards in bfloat16 plans at 3.52 GiB
where loading the model and saving it needed ~98 GiB.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rungs.kernel import CONF_DIR, ModelConfig, RungsConfig, card_gib

MiB, GiB = 1024**2, 1024**3

COMPONENTS = ("weights", "trainable", "optimizer", "gradients", "activations", "logits", "runtime")
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# NF4 with double quantisation (bnb_4bit_use_double_quant=True, blocksize 64): 4-bit codes, an 8-bit
# absmax per 64 weights, a float32 second-level constant per 256 absmax blocks: 4.127 bits/param.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
GGUF_BYTES = 0.95  # Q4_K_M file per parameter, embedding in a wider type (gemma3-270m: 242 MiB / 268M)
SHARD_BYTES = 2 * 10**9  # rungs.train.SHARD_BYTES: the streamed import's output shards
SOURCE_DTYPE_BYTES = 2  # Hugging Face checkpoints of Gemma 3 are bfloat16: a cast to another dtype holds both
CPU_RUNTIME = 448 * MiB
LOGSUMEXP_SLICE = 64 * MiB  # rungs.train's _CrossEntropy reduces the logits in slices of 2**24 elements
CUDA_RUNTIME = 1 * GiB
TOKENIZER_BYTES_PER_TOKEN = 1880
ACT_FULL = (11, 4, 4, 4, 0)  # per token per layer: hidden, intermediate, q_dim, kv_dim, lora r
ACT_LORA = (6, 4, 3, 3, 7)
ACT_INFER = (2, 3, 1, 2, 0)  # no grad: only one layer's intermediates are alive (gate, up, product; q, k, v)
# CPU only: glibc keeps freed activation and gradient blocks in its arenas. Live bytes (mallinfo2) matched
# the terms above; peak RSS of gemma3-270m LoRA-CPT (batch 4 × 128) ran 0.2–0.65 GiB above them, varying
# run to run with thread timing: +50 % of the saved activations centres the estimate.
CPU_ALLOCATOR_SLACK = 0.5


# --------------------------------------------------------------------------------------------------
# parameters from shapes


@dataclass(frozen=True)
class Params:
    embedding: int  # vocab × hidden (the tied lm_head shares it)
    lm_head: int  # 0 when tied
    linear: int  # q, k, v, o, gate, up, down of every layer
    norms: int

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.linear + self.norms

    @property
    def unquantised(self) -> int:
        """What stays in a float dtype under NF4: embeddings and norms."""
        return self.embedding + self.lm_head + self.norms


def linear_shapes(m: ModelConfig) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each linear of one Gemma 3 decoder layer."""
    q, kv, h, i = m.num_heads * m.head_dim, m.num_kv_heads * m.head_dim, m.hidden_size, m.intermediate_size
    return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def count_params(m: ModelConfig) -> Params:
    embedding = m.vocab_size * m.hidden_size
    linear = m.num_layers * sum(a * b for a, b in linear_shapes(m).values())
    # input, post-attention, pre- and post-feedforward norms, q_norm and k_norm per layer; the final norm
    norms = m.num_layers * (4 * m.hidden_size + 2 * m.head_dim) + m.hidden_size
    return Params(embedding, 0 if m.tie_embeddings else embedding, linear, norms)


def lora_targets(target_modules: str) -> tuple[str, ...]:
    """The decoder linears peft wraps: all-linear = every one (not lm_head); a string is a regex over module names."""
    if target_modules == "all-linear":
        return LINEAR
    names = {name: f"model.layers.0.{'mlp' if name in ('gate_proj', 'up_proj', 'down_proj') else 'self_attn'}.{name}" for name in LINEAR}
    try:
        found = tuple(n for n, full in names.items() if re.fullmatch(target_modules, full) or re.fullmatch(target_modules, n))
    except re.error:
        found = ()
    return found or tuple(n for n in LINEAR if n in {t.strip() for t in target_modules.split(",")})


def lora_params(m: ModelConfig, r: int, target_modules: str) -> int:
    shapes = linear_shapes(m)
    return m.num_layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in lora_targets(target_modules))


# --------------------------------------------------------------------------------------------------
# plans


@dataclass
class StagePlan:
    stage: str
    phase: str  # train | inference | import | merge
    what: str  # one line: what runs, on which weights
    where: str  # cpu | cuda | host (host memory on a GPU profile: checked against hardware.host_memory_gb)
    batch: int
    seq_len: int
    parameters: int
    trainable_parameters: int
    weights: int = 0
    trainable: int = 0
    optimizer: int = 0
    gradients: int = 0
    activations: int = 0
    logits: int = 0
    runtime: int = 0
    budget: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.stage if self.phase in ("train", "inference", "import") else f"{self.stage} ({self.phase})"

    @property
    def memory(self) -> str:
        """Which memory this stage's budget is: device (per process) or host."""
        return "host" if self.where == "host" else "device"

    @property
    def total(self) -> int:
        return sum(getattr(self, c) for c in COMPONENTS)

    @property
    def fits(self) -> bool | None:
        return None if self.budget is None else self.total <= self.budget

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "phase": self.phase,
            "what": self.what,
            "where": self.where,
            "batch": self.batch,
            "seq_len": self.seq_len,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "bytes": {c: int(getattr(self, c)) for c in COMPONENTS},
            "total_bytes": int(self.total),
            "budget_bytes": self.budget,
            "total_gib": round(self.total / GiB, 2),
            "budget_gib": None if self.budget is None else round(self.budget / GiB, 2),
            "memory": self.memory,
            "fits": self.fits,
            "notes": self.notes,
        }


def budget(cfg: RungsConfig) -> int:
    """Device memory per process: hardware.memory_gb (a GPU profile's card's usable size unless set)."""
    return int(cfg.hardware.memory_gb * GiB)


def host_budget(cfg: RungsConfig) -> int | None:
    """Host memory for the host-side stages: hardware.host_memory_gb (None: not checked)."""
    hw = cfg.hardware
    return None if hw.host_memory_gb is None else int(hw.host_memory_gb * GiB)


def _dbytes(cfg: RungsConfig) -> int:
    return DTYPE_BYTES[cfg.hardware.dtype]


def _runtime(cfg: RungsConfig, *, tokenizer: bool = True) -> int:
    if cfg.hardware.device != "cpu":
        return CUDA_RUNTIME
    vocab = cfg.model.vocab_size if tokenizer else 0
    return CPU_RUNTIME + vocab * TOKENIZER_BYTES_PER_TOKEN


def _act_elems(m: ModelConfig, coeffs: tuple[int, ...], r: int = 0) -> int:
    q, kv = m.num_heads * m.head_dim, m.num_kv_heads * m.head_dim
    return sum(c * x for c, x in zip(coeffs, (m.hidden_size, m.intermediate_size, q, kv, r)))


def _train_plan(cfg: RungsConfig, kind: str) -> StagePlan:
    hw, m, tc = cfg.hardware, cfg.model, getattr(cfg, kind)
    lora = kind == "sft" or cfg.cpt.method == "lora"
    quant = lora and hw.quant == "nf4"
    seq = cfg.corpus.block_size if kind == "cpt" else cfg.sft.max_len
    batch = max(1, tc.batch_size // max(1, hw.processes))  # each process trains on its slice of every batch
    tokens = batch * seq
    d = _dbytes(cfg)
    p = count_params(m)
    on_cpu = hw.device == "cpu"
    notes = []
    if quant:
        embedding = p.embedding + p.lm_head
        weights = p.linear * NF4_BYTES + p.norms * 4 + embedding * d
        notes.append(
            f"NF4 linears {p.linear * NF4_BYTES / GiB:.2f} GiB + {hw.dtype} embedding {embedding * d / GiB:.2f} GiB "
            "(trainable_model keeps it in the compute dtype) + float32 norms"
        )
        if on_cpu:
            weights += p.linear * d + (p.unquantised * d if d != 4 else 0)
            notes.append("CPU: the full-precision safetensors stay memory-mapped while the model lives")
        param_bytes, act_bytes = 4, 4
    else:
        weights = p.total * d
        param_bytes = act_bytes = d
    if lora:
        n_train = lora_params(m, tc.lora_r, tc.target_modules)
        trainable = n_train * param_bytes
        targets = "all-linear" if tc.target_modules == "all-linear" else ",".join(lora_targets(tc.target_modules))
        what = f"{'QLoRA' if quant else 'LoRA'} r={tc.lora_r} ({targets}) on {'NF4' if quant else hw.dtype} weights"
    else:
        n_train, trainable = p.total, 0
        what = f"full fine-tuning in {hw.dtype}"
    fsdp = hw.processes > 1 and hw.strategy == "fsdp"
    gradients = n_train * param_bytes * (2 if hw.processes > 1 and not fsdp else 1)
    optimizer = n_train * (2 * param_bytes if hw.optimizer == "adamw" else 2)
    if fsdp:  # each rank keeps 1/P of weights, gradients and optimizer state ...
        weights, trainable, gradients, optimizer = (x / hw.processes for x in (weights, trainable, gradients, optimizer))
        # ... plus what is all-gathered for compute: the root unit (embedding, norms) for the whole step,
        # and two decoder layers (the one computing and the next, prefetched)
        weights += (p.embedding + p.lm_head) * d + 2 * (p.linear // m.num_layers) * d
        notes.append(f"per process of {hw.processes} (FSDP2): 1/{hw.processes} of the weights, gradients and optimizer state, plus the embedding and two gathered layers")
    per_layer = _act_elems(m, ACT_LORA if lora else ACT_FULL, tc.lora_r if lora else 0)
    if hw.gradient_checkpointing:
        activations = (m.num_layers * tokens * m.hidden_size + 2 * tokens * per_layer) * act_bytes
        what += ", gradient checkpointing"
    else:
        activations = m.num_layers * tokens * per_layer * act_bytes
    if on_cpu:
        activations *= 1 + CPU_ALLOCATOR_SLACK
    what += f", {hw.optimizer}"
    if hw.processes > 1 and not fsdp:
        notes.append(f"per process of {hw.processes} (DDP): gradient buckets double the gradients")
    if hw.optimizer == "paged_adamw_8bit":
        notes.append("paged optimizer states can spill to host memory under pressure")
    return StagePlan(
        stage=kind, phase="train", what=what, where=hw.device, batch=batch, seq_len=seq,
        parameters=p.total, trainable_parameters=n_train, weights=int(weights), trainable=int(trainable),
        optimizer=int(optimizer), gradients=int(gradients), activations=int(activations),
        logits=_logit_bytes(tokens, m, d), runtime=_runtime(cfg), budget=budget(cfg), notes=notes,
    )


def _logit_bytes(tokens: int, m: ModelConfig, d: int) -> int:
    """float32 logits, plus the model's own 16-bit logits while they are upcast, plus one logsumexp slice."""
    elements = tokens * m.vocab_size
    return elements * (4 if d == 4 else 6) + min(elements * 4, LOGSUMEXP_SLICE)


def _merge_plan(cfg: RungsConfig) -> StagePlan:
    """After QLoRA-CPT the adapter is merged into a full-precision reload of the base (rungs.train.merged)."""
    hw, m = cfg.hardware, cfg.model
    d = _dbytes(cfg)
    p = count_params(m)
    n = lora_params(m, cfg.cpt.lora_r, cfg.cpt.target_modules)
    on_cpu = hw.device == "cpu"
    weights = p.total * d
    notes = ["the adapter is merged into a full-precision reload of the base, in host memory"]
    if on_cpu:  # the trained 4-bit model (and its mapped source) is still alive in the same memory
        weights += p.linear * NF4_BYTES + p.unquantised * 4 + p.linear * d
        notes.append("CPU: the trained NF4 model is still resident during the merge")
    return StagePlan(
        stage="cpt", phase="merge", what=f"merge LoRA r={cfg.cpt.lora_r} into {hw.dtype} weights", where="cpu" if on_cpu else "host",
        batch=0, seq_len=0, parameters=p.total, trainable_parameters=n, weights=int(weights), trainable=n * d,
        runtime=_runtime(cfg) if on_cpu else CPU_RUNTIME, budget=budget(cfg) if on_cpu else host_budget(cfg), notes=notes,
    )


def _load_plan(cfg: RungsConfig, kind: str) -> StagePlan:
    """FSDP on several processes: every rank loads the whole model onto its device before `fully_shard`
    shards it (rungs.train: trainable_model, then train), so each device holds all weights for a moment."""
    hw, m = cfg.hardware, cfg.model
    p = count_params(m)
    return StagePlan(
        stage=kind, phase="load", what=f"every process loads the whole model in {hw.dtype} before FSDP2 shards it",
        where=hw.device, batch=0, seq_len=0, parameters=p.total, trainable_parameters=0, weights=p.total * _dbytes(cfg),
        runtime=_runtime(cfg), budget=budget(cfg), notes=["before sharding: no activations, gradients or optimizer state yet"],
    )


def _gather_plan(cfg: RungsConfig, kind: str) -> StagePlan:
    """FSDP on several processes: rank 0 gathers the trained weights into host memory (a full state dict)
    and loads them into a host-memory rebuild of the model to save it (rungs.train's _unsharded)."""
    hw, m = cfg.hardware, cfg.model
    d = _dbytes(cfg)
    p = count_params(m)
    tc = getattr(cfg, kind)
    lora = kind == "sft" or cfg.cpt.method == "lora"
    n = lora_params(m, tc.lora_r, tc.target_modules) if lora else 0
    return StagePlan(
        stage=kind, phase="gather", what="rank 0 gathers the FSDP shards and rebuilds the model in host memory to save it",
        where="host", batch=0, seq_len=0, parameters=p.total, trainable_parameters=n, weights=2 * p.total * d,
        trainable=2 * n * d, runtime=_runtime(cfg, tokenizer=True) if hw.device == "cpu" else CPU_RUNTIME + m.vocab_size * TOKENIZER_BYTES_PER_TOKEN,
        budget=host_budget(cfg), notes=["the gathered full state dict and the rebuilt model are both alive while loading"],
    )


def _evaluate_plan(cfg: RungsConfig) -> StagePlan:
    hw, m = cfg.hardware, cfg.model
    d = _dbytes(cfg)
    p = count_params(m)
    quant = hw.quant == "nf4"
    # domain/general blocks of corpus.block_size; held-out sft answers up to evaluate.answer_max_len
    seq = max(cfg.corpus.block_size, getattr(cfg.evaluate, "answer_max_len", 0) if "sft" in cfg.pipeline.stages else 0)
    tokens = cfg.evaluate.batch_size * seq
    notes = ["one model at a time: base, cpt, then the sft adapter on its trunk"]
    if quant:
        weights = p.linear * NF4_BYTES + p.unquantised * d
        notes.append("assumes NF4 weights as in training (hardware.quant=nf4)")
        if hw.device == "cpu":
            weights += p.total * d
    else:
        weights = p.total * d
    adapter = lora_params(m, cfg.sft.lora_r, cfg.sft.target_modules) if "sft" in cfg.pipeline.stages else 0
    adapter_bytes = adapter * (4 if quant else d)
    activations = tokens * _act_elems(m, ACT_INFER) * d
    logits = _logit_bytes(tokens, m, d)
    return StagePlan(
        stage="evaluate", phase="inference", what=f"held-out perplexity, no grad, {'NF4' if quant else hw.dtype} weights",
        where=hw.device, batch=cfg.evaluate.batch_size, seq_len=seq, parameters=p.total,
        trainable_parameters=0, weights=int(weights), trainable=int(adapter_bytes), activations=int(activations),
        logits=int(logits), runtime=_runtime(cfg), budget=budget(cfg), notes=notes,
    )


def _base_plan(cfg: RungsConfig) -> StagePlan:
    """Import: build a random model (tiny), or stream a GGUF / Hugging Face checkpoint tensor by tensor into
    2 GB safetensors shards in hardware.dtype (rungs.train.import_streamed): memory bounded by a shard."""
    hw, m = cfg.hardware, cfg.model
    d = _dbytes(cfg)
    p = count_params(m)
    on_cpu = hw.device == "cpu"
    largest = p.embedding  # vocab × hidden: the largest tensor of a Gemma model
    shard = min(p.total * d, max(SHARD_BYTES, largest * d))  # what one output shard holds at most
    if m.source == "gguf":
        # the GGUF file is mapped (its pages stay resident), the tensor being dequantised is float32
        weights = shard + p.total * GGUF_BYTES + largest * 4
        what = f"dequantise the GGUF ({m.package}) tensor by tensor to {hw.dtype}, 2 GB safetensors shards"
        notes = ["streamed: one output shard, the mapped GGUF and one dequantised tensor, whatever the model's size"]
    elif m.source == "hf":
        weights = shard + (largest * SOURCE_DTYPE_BYTES if d != SOURCE_DTYPE_BYTES else 0)
        what = f"stream {m.path} text-only to {hw.dtype}, 2 GB safetensors shards"
        notes = [
            f"streamed: one output shard (max of 2 GB and the embedding, {gib(largest * d)}) in memory, whatever the model's size",
            "text-only: a multimodal checkpoint's vision tower and projector are skipped, never loaded",
        ]
    else:
        weights = p.total * d  # the fresh model; safetensors writes it without a second copy
        what = f"initialise a random {m.name} model and save safetensors"
        notes = []
    return StagePlan(
        stage="base", phase="import", what=what, where="cpu" if on_cpu else "host", batch=0, seq_len=0,
        parameters=p.total, trainable_parameters=0, weights=int(weights),
        runtime=_runtime(cfg, tokenizer=True) if on_cpu else CPU_RUNTIME + m.vocab_size * TOKENIZER_BYTES_PER_TOKEN,
        budget=budget(cfg) if on_cpu else host_budget(cfg), notes=notes,
    )


def _fsdp(cfg: RungsConfig) -> bool:
    return cfg.hardware.processes > 1 and cfg.hardware.strategy == "fsdp"


def estimate(cfg: RungsConfig, stages: list[str] | tuple[str, ...] | None = None) -> list[StagePlan]:
    """One plan per memory-heavy stage of `stages` (default: the pipeline's), in pipeline order."""
    plans: list[StagePlan] = []
    for kind in stages if stages is not None else cfg.pipeline.stages:
        if kind == "base":
            plans.append(_base_plan(cfg))
        elif kind == "cpt":
            if _fsdp(cfg):
                plans.append(_load_plan(cfg, "cpt"))
            plans.append(_train_plan(cfg, "cpt"))
            if _fsdp(cfg):
                plans.append(_gather_plan(cfg, "cpt"))
            if cfg.cpt.method == "lora" and cfg.hardware.quant == "nf4":
                plans.append(_merge_plan(cfg))
        elif kind == "sft":
            if _fsdp(cfg):
                plans.append(_load_plan(cfg, "sft"))
            plans.append(_train_plan(cfg, "sft"))
            if _fsdp(cfg):
                plans.append(_gather_plan(cfg, "sft"))
        elif kind == "evaluate":
            plans.append(_evaluate_plan(cfg))
    return plans


# --------------------------------------------------------------------------------------------------
# fit and suggestions


@dataclass
class Suggestion:
    overrides: dict[str, Any]
    peak: int  # the largest checked stage after the overrides

    @property
    def words(self) -> list[str]:
        return [f"{k}={_fmt_override(v)}" for k, v in self.overrides.items()]


def _fmt_override(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def apply_overrides(cfg: RungsConfig, overrides: dict[str, Any]) -> RungsConfig:
    """A copy of cfg with dotted `section.key` values replaced (typed values, not Hydra strings)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    return dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **kv) for s, kv in sections.items()})


def _checked(plans: list[StagePlan]) -> list[StagePlan]:
    return [p for p in plans if p.budget is not None]


def _levers(cfg: RungsConfig, stages: tuple[str, ...]) -> list[list[tuple[int, dict[str, Any]]]]:
    """Alternatives per lever, (cost, overrides); the first of each is 'leave as is'. Lower cost = milder change."""
    hw, levers = cfg.hardware, []
    training = [k for k in ("cpt", "sft") if k in stages]
    if training and not hw.gradient_checkpointing:
        levers.append([(0, {}), (1, {"hardware.gradient_checkpointing": True})])
    if training and hw.optimizer == "adamw":
        levers.append([(0, {}), (1, {"hardware.optimizer": "adamw_8bit" if hw.device == "cpu" else "paged_adamw_8bit"})])
    if "cpt" in stages and cfg.cpt.method == "full":
        levers.append([(0, {}), (3, {"cpt.method": "lora"})])
    if hw.quant == "none" and any(k in stages for k in ("cpt", "sft", "evaluate")):
        quant = {"hardware.quant": "nf4", **({"cpt.method": "lora"} if "cpt" in stages else {})}
        levers.append([(0, {}), (3, quant)])
    for kind in training:
        tc = getattr(cfg, kind)
        procs = max(1, hw.processes)  # the smallest batch that gives every process one sample
        if tc.batch_size > procs and (tc.batch_size * tc.grad_accum) % procs == 0:
            smaller = {f"{kind}.batch_size": procs, f"{kind}.grad_accum": tc.batch_size * tc.grad_accum // procs}
            levers.append([(0, {}), (1, smaller)])
        if kind == "sft" or cfg.cpt.method == "lora" or hw.quant == "nf4":
            levers.append([(2 * i, {f"{kind}.lora_r": tc.lora_r >> i} if i else {}) for i in range(4) if tc.lora_r >> i >= 8])
    if "cpt" in stages or "evaluate" in stages:
        block = cfg.corpus.block_size
        levers.append([(3 * i, {"corpus.block_size": block >> i} if i else {}) for i in range(4) if block >> i >= 64])
    if "sft" in stages:
        max_len = cfg.sft.max_len
        levers.append([(3 * i, {"sft.max_len": max_len >> i} if i else {}) for i in range(4) if max_len >> i >= 64])
    if "evaluate" in stages and cfg.evaluate.batch_size > 1:
        levers.append([(0, {}), (1, {"evaluate.batch_size": 1})])
    return [lever for lever in levers if len(lever) > 1]


def hardware_overrides() -> dict[str, dict[str, Any]]:
    """conf/hardware/<name>.yaml as typed dotted overrides (what `hardware=<name>` sets), smallest budget first."""
    from omegaconf import OmegaConf

    profiles = {}
    for path in sorted((CONF_DIR / "hardware").glob("*.yaml")):
        raw = OmegaConf.to_container(OmegaConf.load(path))
        profile = {f"{section}.{k}": v for section, values in raw.items() for k, v in values.items()}
        if profile.get("hardware.memory_gb") is None and profile.get("hardware.card"):
            profile["hardware.memory_gb"] = card_gib(profile["hardware.card"])  # as composing does
        if profile.get("hardware.host_memory_gb") is None and profile.get("hardware.device") == "cpu":
            profile["hardware.host_memory_gb"] = profile.get("hardware.memory_gb")
        profiles[path.stem] = profile
    return dict(sorted(profiles.items(), key=lambda kv: kv[1].get("hardware.memory_gb", 0)))


def suggest(cfg: RungsConfig, stages: list[str] | tuple[str, ...] | None = None, limit: int = 3) -> list[Suggestion]:
    """Override sets, mildest first, under which every checked stage fits (each re-estimated).

    When nothing fits on this hardware, the other hardware profiles are tried (`hardware=<name>`, with
    the mildest overrides they still need).
    """
    stages = tuple(stages if stages is not None else cfg.pipeline.stages)
    found = _suggest_here(cfg, stages, limit)
    if found:
        return found
    for name, profile in hardware_overrides().items():
        if name == cfg.hardware.name:
            continue
        needed: dict[str, Any] = {"hardware": name}
        procs = max(1, int(profile.get("hardware.processes", 1)))
        for kind in ("cpt", "sft"):  # every process needs an equal slice of each batch
            tc = getattr(cfg, kind)
            if kind in stages and tc.batch_size % procs:
                needed.update({f"{kind}.batch_size": procs, f"{kind}.grad_accum": max(1, tc.batch_size * tc.grad_accum // procs)})
        other = apply_overrides(cfg, {**profile, **{k: v for k, v in needed.items() if k != "hardware"}})
        checked = _checked(estimate(other, stages))
        if checked and all(p.fits for p in checked):
            found.append(Suggestion(needed, max(p.total for p in checked)))
        else:
            found += [Suggestion({**needed, **s.overrides}, s.peak) for s in _suggest_here(other, stages, 1)]
        if len(found) == limit:
            break
    return found


def _suggest_here(cfg: RungsConfig, stages: tuple[str, ...], limit: int) -> list[Suggestion]:
    candidates = []
    for combo in itertools.product(*_levers(cfg, stages)):
        overrides: dict[str, Any] = {}
        for _, o in combo:
            overrides.update(o)
        if overrides:
            candidates.append((sum(c for c, _ in combo), len(overrides), overrides))
    candidates.sort(key=lambda c: (c[0], c[1]))
    found: list[Suggestion] = []
    for _, _, overrides in candidates:
        if any(s.overrides.items() <= overrides.items() for s in found):
            continue  # a milder subset already fits
        checked = _checked(estimate(apply_overrides(cfg, overrides), stages))
        if checked and all(p.fits for p in checked):
            found.append(Suggestion(overrides, max(p.total for p in checked)))
            if len(found) == limit:
                break
    return found


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def breakdown(plan: StagePlan) -> str:
    return ", ".join(f"{c} {gib(getattr(plan, c))}" for c in COMPONENTS if getattr(plan, c))


def fits(plans: list[StagePlan], cfg: RungsConfig) -> tuple[bool, str]:
    """(True, summary) when every checked stage fits hardware.memory_gb; else (False, the numbers + overrides that fit)."""
    checked = _checked(plans)
    over = [p for p in checked if not p.fits]
    hw = cfg.hardware
    where = f"{cfg.model.name} × {hw.name} ({hw.memory_gb:g} GiB per process" + (
        f" on {hw.card}, {hw.host_memory_gb:g} GiB host)" if hw.device != "cpu" and hw.host_memory_gb is not None else ")")
    if not over:
        device = [p for p in checked if p.memory == "device"]
        peak = max(device or checked, key=lambda p: p.total) if checked else None
        head = f"plan fits {where}" + (f": peak {gib(peak.total)} in {peak.label}" if peak else "")
        host = [p for p in checked if p.memory == "host"]
        if host:
            top = max(host, key=lambda p: p.total)
            head += f"; host peak {gib(top.total)} in {top.label}"
        return True, head
    lines = [f"plan does not fit {where}:"]
    for p in over:
        of = " of host memory (hardware.host_memory_gb)" if p.memory == "host" else ""
        lines.append(f"  {p.label}: {gib(p.total)} > {gib(p.budget)}{of}  ({breakdown(p)})")
    if all(p.memory == "host" for p in over):
        lines.append(
            f"the GPU side fits; host memory does not: set hardware.host_memory_gb to this machine's RAM if it has more, "
            f"or run {', '.join(sorted({p.label for p in over}))} on a machine with at least {gib(max(p.total for p in over))}"
        )
        return False, "\n".join(lines)
    stages = tuple(dict.fromkeys(p.stage for p in plans))
    found = suggest(cfg, stages)
    if found and "hardware" in found[0].overrides:
        lines.append(f"nothing fits {cfg.hardware.name}; other hardware that would (re-estimated):")
        for s in found:
            lines.append(f"  {' '.join(s.words)}   → peak {gib(s.peak)}")
    elif found:
        lines.append("overrides that would fit (re-estimated):")
        for s in found:
            lines.append(f"  {' '.join(s.words)}   → peak {gib(s.peak)}")
    else:
        lines.append(
            "no combination of gradient checkpointing, 8-bit optimizer, LoRA, NF4, smaller batch, smaller rank or shorter "
            "sequences fits on any hardware profile: choose a smaller model"
        )
    return False, "\n".join(lines)


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM).

    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a child started from a large
    parent (a test runner holding models) would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
