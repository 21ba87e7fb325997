"""The one training loop, shared by cpt and sft: deterministic batches, cosine schedule, checkpoints, resume.

Batches are a pure function of (seed, step), so a resumed run sees exactly the data an uninterrupted
run would have seen; checkpoints carry optimizer, scheduler and RNG state for the same reason.

Under torch.distributed (rungs.pipeline launches the processes) the model trains wrapped in
DistributedDataParallel (hardware.strategy=ddp) or sharded by FSDP2's `fully_shard` per decoder layer (fsdp), and every
micro-batch of `batch_size` examples, the same one a single process would draw, is split into equal
contiguous slices, one per rank: the global batch and the data order do not depend on the number of
processes. Rank 0 alone writes checkpoints; under FSDP every rank takes part in gathering them, and at
the end rank 0 receives the trained model as a plain (unsharded) copy in host memory (`TrainResult.model`).

Speed (measured against TRL's SFTTrainer by bench/train_throughput.py): the loss projects only the positions
that carry a label onto the vocabulary (`next_token_loss`) and SFT batches are bucketed by length
(`batch_sampler`), so neither prompt tokens nor padding pay for the 262k-entry LM head.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rungs.kernel import ConfigError, TrainConfig

from . import _ranks as ranks

IGNORE_INDEX = -100
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    model: Any = None  # the trained model, on the main process: what the stage saves (see train)
    peak_device: dict = field(default_factory=dict)  # on a GPU: the allocator's peak bytes, the largest over ranks

    @property
    def first_loss(self) -> float:
        return self.history[0]["loss"]

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"]

    def metrics(self, prefix: str = "train") -> dict:
        return {
            f"{prefix}_loss_first": round(self.first_loss, 4),
            f"{prefix}_loss_final": round(self.final_loss, 4),
            f"{prefix}_tokens": self.tokens,
            f"{prefix}_tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
            "resumed_from_step": self.resumed_from,
            **{f"peak_device_{k}_gib": round(v / 2**30, 2) for k, v in self.peak_device.items()},  # to set against `rungs plan`
            **({"eval_loss_final": round(evals[-1], 4)} if (evals := [h["eval_loss"] for h in self.history if "eval_loss" in h]) else {}),
        }


def collate(examples: Sequence[dict], pad_id: int, bos_id: int | None = None) -> dict[str, torch.Tensor]:
    """Right-pad a list of {input_ids, labels?} to one batch; padding never carries loss.

    With `bos_id`, position ids restart at every `<bos>`: a packed block (rungs.curation.pack) is then computed
    as independent documents (the model derives a block-diagonal causal mask from the positions, see
    next_token_loss), and a block without labels never learns to predict `<bos>` or padding. Padding sits
    after every real token, so causal attention keeps it out of every scored position.
    """
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.as_tensor(e["input_ids"], dtype=torch.long)
        if "labels" in e:
            labels[row, :n] = torch.as_tensor(e["labels"], dtype=torch.long)
        else:
            labels[row, :n] = ids[row, :n]
            labels[row, :n][ids[row, :n] == pad_id] = IGNORE_INDEX
            if bos_id is not None:
                labels[row, :n][ids[row, :n] == bos_id] = IGNORE_INDEX
        mask[row, :n] = 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    if bos_id is not None:
        batch["position_ids"] = segment_positions(ids, bos_id)
    return batch


def segment_positions(ids: torch.Tensor, bos_id: int) -> torch.Tensor:
    """(batch, seq) positions counting from 0 at every `<bos>` (and at column 0)."""
    col = torch.arange(ids.shape[1]).expand_as(ids)
    starts = torch.where(ids == bos_id, col, torch.zeros_like(col))
    starts[:, 0] = 0
    return col - torch.cummax(starts, dim=1).values


def batch_indices(n: int, seed: int, first: int, size: int) -> list[int]:
    """Sample indices first..first+size of an endless stream of seeded epoch permutations of range(n)."""
    out, perms = [], {}
    for g in range(first, first + size):
        epoch = g // n
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.append(int(perms[epoch][g % n]))
    return out


# Micro-batches drawn together and sorted by length before being cut into batches (see batch_sampler).
BUCKET_BATCHES = 8


def batch_sampler(examples: Sequence[dict], cfg: TrainConfig, seed: int):
    """`draw(step, micro)` -> example indices of that micro-batch: a pure function of (seed, step, micro).

    Examples of unequal length (SFT conversations) are bucketed to cut padding: the seeded stream's next
    BUCKET_BATCHES micro-batches' worth of examples are sorted by length, cut into micro-batches, and those
    are taken in a seeded random order. Each batch pads only to its own longest example, and every example
    is still seen once per pass over the stream. Equal-length examples (packed CPT blocks) keep the plain
    stream order, where sorting would change nothing but the order of batches.
    """
    n, size = len(examples), cfg.batch_size
    lengths = [len(e["input_ids"]) for e in examples]
    uniform = len(set(lengths)) == 1

    def draw(step: int, micro: int) -> list[int]:
        g = step * cfg.grad_accum + micro  # micro-batch number in the whole run
        if uniform:
            return batch_indices(n, seed, g * size, size)
        window, slot = divmod(g, BUCKET_BATCHES)
        pool = batch_indices(n, seed, window * BUCKET_BATCHES * size, BUCKET_BATCHES * size)
        pool.sort(key=lambda i: lengths[i])  # stable: equal lengths keep their stream order
        order = torch.randperm(BUCKET_BATCHES, generator=torch.Generator().manual_seed((seed + 1) * 1_000_003 + window))
        k = int(order[slot])
        return pool[k * size : (k + 1) * size]

    return draw


def _masked_logits_supported() -> bool:
    try:  # transformers >= 5.x: `logits_to_keep` may be a boolean (batch, seq) mask
        from transformers.modeling_utils import slice_logits_to_keep  # noqa: F401
    except ImportError:
        return False
    return True


_MASKED_LOGITS = _masked_logits_supported()


def next_token_loss(model, batch: dict[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the next-token predictions at the positions whose next token carries a label.

    reduction: mean, sum, or none (the label tokens' losses in row-major order, without gradient).

    Equal to the model's own `model(**batch).loss`, but only those positions go through the LM head:
    `logits_to_keep` takes a boolean (batch, seq) mask and the model projects just the selected hidden
    states. With Gemma's 262k vocabulary the LM head and its log-softmax are most of a step (~60 % of a
    gemma3-270m LoRA step on CPU), and in SFT a quarter of the positions are prompt or padding. It also
    never builds the full (batch, seq, vocab) logits, which is most of the activation memory.
    """
    inner = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    device = inner.get_input_embeddings().weight.device  # batches are built on the host
    batch = {key: value.to(device) for key, value in batch.items()}
    labels = batch["labels"]
    target_mask = labels[:, 1:] != IGNORE_INDEX  # position t predicts token t + 1
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = target_mask
    if "position_ids" in batch:
        # no attention mask: the model derives a block-diagonal causal mask from positions that restart at
        # every <bos> (packed documents stay apart); padding comes last and causal attention ignores it.
        # use_cache=False, because transformers looks for packed sequences only without a cache.
        inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "use_cache": False}
    else:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if _MASKED_LOGITS:
        logits = model(**inputs, logits_to_keep=keep).logits
    else:
        logits = model(**inputs).logits[keep]
    targets = labels[:, 1:][target_mask]
    if not targets.numel():
        return logits.sum() * 0.0  # nothing to learn in this batch: a zero that still backpropagates
    # float(): 16-bit logits would lose precision in the log-softmax; a no-op for fp32 models
    return _CrossEntropy.apply(logits.float(), targets, reduction)


class _CrossEntropy(torch.autograd.Function):
    """Cross-entropy of (N, V) logits (every target valid) whose backward turns the logits into their gradient.

    torch's cross_entropy keeps a log-softmax copy of the logits for the backward pass and allocates two more
    (N, V) tensors there (a zero-filled gradient of the picked entries, then the result): with Gemma's 262k
    vocabulary each is 1 MiB per position in fp32. This keeps only the logits, which nothing else needs once
    the loss is known, and overwrites them in place with softmax - one_hot. Measured on a gemma3-270m LoRA-CPT
    step (4 x 128 tokens, CPU): ~8 % faster and ~1 GiB lower peak RSS, same loss and gradients to fp32
    rounding. One backward only (no retain_graph); the logits tensor is garbage afterwards.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        # logsumexp allocates a temporary as large as its input: ~64 MiB slices instead of one (N, V) copy
        # (another ~0.45 GiB off the gemma3-270m CPT peak, same speed)
        rows = max(1, 2**24 // logits.size(-1))
        lse = torch.cat([torch.logsumexp(part, dim=-1) for part in logits.split(rows)])
        losses = lse - logits.gather(1, targets[:, None]).squeeze(1)
        if reduction == "none":  # per-token losses, for scoring only (no backward)
            return losses
        ctx.save_for_backward(logits, targets, lse)
        ctx.reduction = reduction
        return losses.sum() if reduction == "sum" else losses.mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, targets, lse = ctx.saved_tensors
        shifted = logits.sub_(lse[:, None]) if logits.is_contiguous() else logits - lse[:, None]
        probs = shifted.exp_()  # softmax, in the logits' own memory
        probs[torch.arange(len(targets), device=probs.device), targets] -= 1
        scale = grad if ctx.reduction == "sum" else grad / len(targets)
        return probs.mul_(scale), None, None


def cosine_schedule(cfg: TrainConfig):
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _trainable_state(model, optimizer, sharded: bool) -> tuple[dict, dict]:
    """Trainable weights and optimizer state, whole: under FSDP gathered from every rank (a collective)."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_state_dict,
        )

        return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True))
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}, optimizer.state_dict()


def _save_checkpoint(path: Path, model, optimizer, scheduler, step: int, result: TrainResult, sharded: bool = False) -> None:
    trainable, optimizer_state = _trainable_state(model, optimizer, sharded)
    if ranks.rank() != 0:
        return
    state = {
        "step": step,
        "trainable": trainable,
        "optimizer": optimizer_state,
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
        "history": result.history,
        "tokens": result.tokens,
        "seconds": result.seconds,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-save leaves the previous checkpoint intact


def _load_checkpoint(path: Path, model, optimizer, scheduler, result: TrainResult, sharded: bool = False) -> int:
    state = torch.load(path, weights_only=False)
    if sharded:  # every rank reads the whole state and keeps its own shards of it
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_state_dict,
        )

        set_state_dict(model, optimizer, model_state_dict=state["trainable"], optim_state_dict=state["optimizer"], options=StateDictOptions(full_state_dict=True, strict=False))
    else:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state["trainable"].items():
                params[name].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda_rng"])
    result.history, result.tokens, result.seconds = state["history"], state["tokens"], state["seconds"]
    return state["step"]


def make_optimizer(params, cfg: TrainConfig, kind: str = "adamw"):
    """AdamW, or bitsandbytes' 8-bit AdamW (paged: states spill to host memory under GPU pressure)."""
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    import bitsandbytes as bnb

    cls = {"adamw_8bit": bnb.optim.AdamW8bit, "paged_adamw_8bit": bnb.optim.PagedAdamW8bit}[kind]
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train(
    model,
    examples: Sequence[dict],
    cfg: TrainConfig,
    *,
    optimizer_kind: str = "adamw",
    seed: int,
    pad_id: int,
    bos_id: int | None = None,
    scratch: Path,
    progress,
    desc: str,
    eval_examples: Sequence[dict] = (),
    strategy: str = "ddp",
    rebuild: Callable[[], torch.nn.Module] | None = None,
) -> TrainResult:
    """Train the parameters of `model` that require grad for cfg.max_steps optimizer steps.

    With eval_examples, the held-out loss is measured every cfg.eval_every steps and at the end.
    `result.model` is the trained model on the main process: `model` itself, except under FSDP
    (strategy="fsdp" with several processes), where `model` is left sharded and rank 0 gets a fresh
    host-memory copy from `rebuild()` loaded with the gathered weights.
    """
    if not examples:
        raise ValueError("no training examples")
    world, rank = ranks.world_size(), ranks.rank()
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size={cfg.batch_size} must be a multiple of the {world} processes: each trains on an equal slice of every batch")
    share = cfg.batch_size // world
    sharded = world > 1 and strategy == "fsdp"
    if sharded:
        if rebuild is None:
            raise ConfigError("FSDP training needs a way to rebuild the model unsharded for saving (train(rebuild=...))")
        _fully_shard(model)  # before the optimizer: sharding replaces the parameters
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg, optimizer_kind)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(cfg))
    result = TrainResult()
    checkpoint = Path(scratch) / CHECKPOINT
    start = 0
    if checkpoint.exists():
        start = result.resumed_from = _load_checkpoint(checkpoint, model, optimizer, scheduler, result, sharded)

    net = _data_parallel(model) if world > 1 and not sharded else model
    draw = batch_sampler(examples, cfg, seed)
    targets = [target_count(e, pad_id, bos_id) for e in examples]
    model.train()
    bar = progress(total=cfg.max_steps, initial=start, desc=desc)
    for step in range(start, cfg.max_steps):
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        drawn = [draw(step, micro) for micro in range(cfg.grad_accum)]
        # every rank draws the global batch, so each knows the step's label-token count without a collective
        step_targets = sum(targets[i] for micro in drawn for i in micro)
        micro_batches = [collate([examples[i] for i in d[rank * share : (rank + 1) * share]], pad_id, bos_id) for d in drawn]
        step_loss = backward_step(net, micro_batches, step_targets, world, sync=model.set_requires_gradient_sync if sharded else None)
        result.tokens += sum(len(examples[i]["input_ids"]) for d in drawn for i in d)  # every rank counts the global batch
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        result.seconds += time.perf_counter() - began
        done = step + 1
        if step == 0 or done % cfg.log_every == 0 or done == cfg.max_steps:
            if world > 1:
                step_loss = _sum_over_ranks(step_loss)
            point = {"step": done, "loss": step_loss, "lr": scheduler.get_last_lr()[0]}
            if eval_examples and (done == cfg.max_steps or (cfg.eval_every and done % cfg.eval_every == 0)):
                point["eval_loss"] = mean_loss(model, eval_examples, pad_id=pad_id, bos_id=bos_id, batch_size=cfg.batch_size)
                model.train()
            result.history.append(point)
            bar.set_postfix(loss=f"{step_loss:.3f}")
        bar.update(1)
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.max_steps and (rank == 0 or sharded):
            _save_checkpoint(checkpoint, model, optimizer, scheduler, step + 1, result, sharded)
    bar.close()
    result.peak_device = _peak_device(params[0].device if params else None, world)
    model.eval()
    result.model = _unsharded(model, rebuild) if sharded else model
    return result


def _peak_device(device, world: int) -> dict:
    """The CUDA caching allocator's peak allocated and reserved bytes of this run (max over ranks); {} on a CPU."""
    if device is None or device.type != "cuda":
        return {}
    peaks = torch.tensor([torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)], dtype=torch.float64, device=device)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(peaks, op=dist.ReduceOp.MAX)
    return {"allocated": int(peaks[0]), "reserved": int(peaks[1])}


def _fully_shard(model) -> None:
    """FSDP2 in place: one unit per decoder layer (its weights are all-gathered just for its forward and
    backward), the rest (embedding, tied LM head, final norm) in the root unit."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device = next(model.parameters()).device
    mesh = init_device_mesh(device.type, (ranks.world_size(),))
    for module in model.modules():
        if type(module).__name__.endswith("DecoderLayer"):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _unsharded(model, rebuild: Callable[[], torch.nn.Module]):
    """Rank 0: a plain copy of the FSDP-trained `model` in host memory; other ranks: None. A collective."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if ranks.rank() != 0:
        return None
    plain = rebuild()
    outcome = plain.load_state_dict(full, strict=False)
    tied = {name for name, _ in plain.named_parameters(remove_duplicate=False)} - {name for name, _ in plain.named_parameters()}
    missing = set(outcome.missing_keys) - tied
    if missing or outcome.unexpected_keys:
        raise RuntimeError(f"the gathered FSDP state does not fit the rebuilt model: missing {sorted(missing)[:5]}, unexpected {outcome.unexpected_keys[:5]}")
    plain.eval()
    return plain


def _data_parallel(model):
    """`model` in DistributedDataParallel, on this rank's GPU when there is one.

    Frozen weights (the base under LoRA, 4-bit or not) are loaded identically by every rank and never
    synchronised; buffers are constants (rotary tables), so forward passes need no collective.
    """
    from torch.nn.parallel import DistributedDataParallel

    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, frozen)
    device = next(p.device for p in model.parameters() if p.requires_grad)
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None, forward_sync_buffers=False)


def _sum_over_ranks(value: float) -> float:
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total)


def target_count(example: dict, pad_id: int, bos_id: int | None = None) -> int:
    """Label tokens of one example as `collate` marks them: what its loss is averaged over."""
    labels = example.get("labels")
    if labels is not None:
        return sum(1 for t in labels[1:] if t != IGNORE_INDEX)
    return sum(1 for t in example["input_ids"][1:] if t != pad_id and t != bos_id)


def backward_step(net, micro_batches: Sequence[dict], step_targets: int, world: int = 1, sync=None) -> float:
    """Backward passes of one optimizer step; returns this rank's share of the step's mean token loss.

    Every label token of the step weighs the same: each micro-batch contributes the *sum* of its token
    losses divided by the label tokens of the whole step (all micro-batches, all ranks). Averaging
    per-micro-batch means instead would weigh a token of a short sample more than one of a long sample.
    DDP and FSDP average gradients over ranks, hence the factor `world`. `sync(flag)` (FSDP) or
    `net.no_sync()` (DDP) keeps the all-reduce for the last micro-batch.
    """
    denominator = max(step_targets, 1)
    total = 0.0
    for k, batch in enumerate(micro_batches):
        last = k + 1 == len(micro_batches)
        if sync is not None:
            sync(last)
        ddp = isinstance(net, torch.nn.parallel.DistributedDataParallel)
        with net.no_sync() if ddp and not last else nullcontext():
            loss_sum = next_token_loss(net, batch, reduction="sum")
            (loss_sum * (world / denominator)).backward()
        total += loss_sum.item() / denominator
    return total


@torch.no_grad()
def mean_loss(model, examples: Sequence[dict], *, pad_id: int, batch_size: int, bos_id: int | None = None) -> float:
    """Token-weighted mean cross-entropy over examples (labels of -100 are ignored)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_id, bos_id)
        total += next_token_loss(model, batch, reduction="sum").item()
        count += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    return total / max(count, 1)
