"""Fine-tuning sentence-transformers models: one trainer set-up for every model the project tunes — the
triage embedder, the retriever's embedder and its cross-encoder reranker (stages/triage.py,
stages/retriever.py) — and one way to save them.

The trainer runs in fp32 on the CPU (bf16 is ~15x slower here: ../shared/STACK-NOTES.md) or on the GPU of
a GPU profile, seeds model initialisation and data order, saves no checkpoints (the stages are short; a
crashed build reruns) and leaves its scratch in `work`, not in the artifact. Saved models drop the generated model card, whose dates
would make two identical builds differ.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def fine_tune(model, data, loss, work: Path, *, epochs: float, batch_size: int, lr: float, seed: int,
              warmup_ratio: float = 0.0, no_duplicates: bool = False, device: str = "cpu",
              lengths: list[int] | None = None) -> None:
    """Train `model` (a SentenceTransformer or a CrossEncoder) on a `datasets.Dataset` with `loss`.

    `no_duplicates` keeps a text out of a batch that already holds it: with in-batch negatives
    (MultipleNegativesRankingLoss) a duplicate would be scored as a negative of itself. `lengths` (one per
    row) batches rows of similar length together: random batches pad every text to the longest of the batch
    (~170 tokens where the triage mean is ~60), nearly tripling the work; mega-batches keep labels mixed.
    """
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(seed)
    if isinstance(model, CrossEncoder):
        from sentence_transformers.cross_encoder import CrossEncoderTrainer as Trainer
        from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments as Arguments
    else:
        from sentence_transformers import SentenceTransformerTrainer as Trainer
        from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    extra = {}
    if no_duplicates:
        from sentence_transformers.training_args import BatchSamplers

        extra["batch_sampler"] = BatchSamplers.NO_DUPLICATES
    elif lengths is not None:
        extra["batch_sampler"] = _by_length(lengths)
    if warmup_ratio:
        extra["warmup_steps"] = warmup_ratio  # transformers 5: a float below 1 is a fraction of the steps
    args = Arguments(output_dir=str(Path(work) / "_trainer"), num_train_epochs=epochs,
                     per_device_train_batch_size=batch_size, learning_rate=lr, seed=seed, data_seed=seed, report_to=[],
                     save_strategy="no", disable_tqdm=True, use_cpu=device == "cpu", dataloader_num_workers=0, **extra)
    Trainer(model=model, args=args, train_dataset=data, loss=loss).train()
    shutil.rmtree(Path(work) / "_trainer", ignore_errors=True)
    model.eval()


def _by_length(lengths: list[int]):
    from sentence_transformers import DefaultBatchSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    def sampler(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        return DefaultBatchSampler(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator),
                                   batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                                   generator=generator, seed=seed)
    return sampler


def save_model(model, directory: Path) -> None:
    """`model.save` without the generated README (a model card with dates and library versions)."""
    model.save(str(directory))
    card = Path(directory) / "README.md"
    if card.exists():
        card.unlink()
