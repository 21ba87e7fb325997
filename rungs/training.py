"""The one training loop, shared by cpt and sft: deterministic batches, cosine schedule, checkpoints, resume.

Batches are a pure function of (seed, step), so a resumed run sees exactly the data an uninterrupted
run would have seen; checkpoints carry optimizer, scheduler and RNG state for the same reason.

Under torch.distributed (see rungs/distributed.py) the model trains wrapped in DistributedDataParallel
and every micro-batch of `batch_size` examples, the same one a single process would draw, is split into
equal contiguous slices, one per rank: the global batch and the data order do not depend on the number
of processes. Rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from . import distributed
from .config import TrainConfig
from .errors import ConfigError

IGNORE_INDEX = -100
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    resumed_from: int = 0

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
            **({"eval_loss_final": round(evals[-1], 4)} if (evals := [h["eval_loss"] for h in self.history if "eval_loss" in h]) else {}),
        }


def collate(examples: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of {input_ids, labels?} to one batch; padding never carries loss."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.as_tensor(e["input_ids"], dtype=torch.long)
        labels[row, :n] = torch.as_tensor(e.get("labels", e["input_ids"]), dtype=torch.long)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def batch_indices(n: int, seed: int, first: int, size: int) -> list[int]:
    """Sample indices first..first+size of an endless stream of seeded epoch permutations of range(n)."""
    out, perms = [], {}
    for g in range(first, first + size):
        epoch = g // n
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.append(int(perms[epoch][g % n]))
    return out


def cosine_schedule(cfg: TrainConfig):
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _save_checkpoint(path: Path, model, optimizer, scheduler, step: int, result: TrainResult) -> None:
    state = {
        "step": step,
        "trainable": {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad},
        "optimizer": optimizer.state_dict(),
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


def _load_checkpoint(path: Path, model, optimizer, scheduler, result: TrainResult) -> int:
    state = torch.load(path, weights_only=False)
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
    scratch: Path,
    progress,
    desc: str,
    eval_examples: Sequence[dict] = (),
) -> TrainResult:
    """Train the parameters of `model` that require grad for cfg.max_steps optimizer steps.

    With eval_examples, the held-out loss is measured every cfg.eval_every steps and at the end.
    """
    if not examples:
        raise ValueError("no training examples")
    world, rank = distributed.world_size(), distributed.rank()
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size={cfg.batch_size} must be a multiple of the {world} processes: each trains on an equal slice of every batch")
    share = cfg.batch_size // world
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg, optimizer_kind)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(cfg))
    result = TrainResult()
    checkpoint = Path(scratch) / CHECKPOINT
    start = 0
    if checkpoint.exists():
        start = result.resumed_from = _load_checkpoint(checkpoint, model, optimizer, scheduler, result)

    net = _data_parallel(model) if world > 1 else model
    model.train()
    bar = progress(total=cfg.max_steps, initial=start, desc=desc)
    for step in range(start, cfg.max_steps):
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            first = (step * cfg.grad_accum + micro) * cfg.batch_size
            drawn = batch_indices(len(examples), seed, first, cfg.batch_size)
            batch = collate([examples[i] for i in drawn[rank * share : (rank + 1) * share]], pad_id)
            # gradients are all-reduced on the last micro-batch only
            with net.no_sync() if net is not model and micro + 1 < cfg.grad_accum else nullcontext():
                loss = net(**batch).loss / cfg.grad_accum
                loss.backward()
            step_loss += loss.item()
            result.tokens += sum(len(examples[i]["input_ids"]) for i in drawn)  # every rank counts the global batch
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        result.seconds += time.perf_counter() - began
        done = step + 1
        if step == 0 or done % cfg.log_every == 0 or done == cfg.max_steps:
            if world > 1:
                step_loss = _mean_over_ranks(step_loss)
            point = {"step": done, "loss": step_loss, "lr": scheduler.get_last_lr()[0]}
            if eval_examples and (done == cfg.max_steps or (cfg.eval_every and done % cfg.eval_every == 0)):
                point["eval_loss"] = mean_loss(model, eval_examples, pad_id=pad_id, batch_size=cfg.batch_size)
                model.train()
            result.history.append(point)
            bar.set_postfix(loss=f"{step_loss:.3f}")
        bar.update(1)
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.max_steps and rank == 0:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, step + 1, result)
    bar.close()
    model.eval()
    return result


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


def _mean_over_ranks(value: float) -> float:
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / dist.get_world_size()


@torch.no_grad()
def mean_loss(model, examples: Sequence[dict], *, pad_id: int, batch_size: int) -> float:
    """Token-weighted mean cross-entropy over examples (labels of -100 are ignored)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        target = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        total += losses.item()
        count += int((target != IGNORE_INDEX).sum())
    return total / max(count, 1)
