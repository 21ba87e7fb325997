"""The loss of an optimizer step: every label token weighs the same, however the step is cut."""

from __future__ import annotations

import torch

from rungs.train import IGNORE_INDEX, backward_step, collate, next_token_loss, target_count
from tests.test_packing import BOS, PAD, _tiny_lm

# samples of very different lengths, labels on their second half only (like SFT answers)
LENGTHS = (6, 31, 12, 50)


def _samples() -> list[dict]:
    out = []
    for k, n in enumerate(LENGTHS):
        ids = [BOS, *((7 * k + 3 * i) % 50 + 5 for i in range(n - 1))]
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * (n // 2) + ids[n // 2 :]})
    return out


def _grads(model, micro_batches: list[list[dict]]) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    total = sum(target_count(s, PAD, BOS) for mb in micro_batches for s in mb)
    backward_step(model, [collate(mb, PAD, BOS) for mb in micro_batches], total)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_four_micro_batches_of_one_give_the_gradients_of_one_batch_of_four():
    model = _tiny_lm().train()
    samples = _samples()
    whole = _grads(model, [samples])
    split = _grads(model, [[s] for s in samples])
    assert whole.keys() == split.keys()
    for name in whole:
        assert torch.allclose(whole[name], split[name], atol=1e-6, rtol=0), name


def test_the_step_loss_is_the_mean_over_label_tokens_and_mean_of_means_is_not():
    model = _tiny_lm().eval()
    samples = _samples()
    with torch.no_grad():
        per_token = torch.cat([next_token_loss(model, collate([s], PAD, BOS), reduction="none") for s in samples])
        means = [next_token_loss(model, collate([s], PAD, BOS)).item() for s in samples]
    step = backward_step(model, [collate([s], PAD, BOS) for s in samples], len(per_token))
    assert abs(step - per_token.mean().item()) < 1e-5
    assert abs(sum(means) / len(means) - per_token.mean().item()) > 1e-3  # what per-micro-batch averaging reported
