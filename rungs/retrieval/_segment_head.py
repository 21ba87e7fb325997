"""The reranker's scoring head: the cosine between the question's and the passage's mean token states, both
read from one joint pass over the pair, as a logit.

A cross-encoder's usual head — a fresh linear layer over the [CLS] state (BertForSequenceClassification) or
over the mean of all tokens — starts from a constant score, and on the few thousand question-answer pairs a
hospital has it never leaves it: with the shipped MiniLM (trained for mean pooling, its [CLS] state near
constant across inputs) the training loss stayed at the weighted cross-entropy of a constant and dev MRR at
chance, at every learning rate tried (bench/RESULTS.md, "Retrieval quality"). This head starts where the
embedder is — question and passage mean-pooled, as the bi-encoder compares them — and the joint pass lets
each side attend to the other, so training refines a ranking it already has instead of finding one from
nothing. `scale` and `bias` map the cosine to a logit (cosine 0.5 -> 0) and are trained with the encoder.

Kept apart from rungs.retrieval._rerank because sentence-transformers must be imported to define a module.
"""

from __future__ import annotations

import torch
from sentence_transformers.base.modules import Module


class SegmentCosine(Module):
    config_keys: list[str] = []  # scale and bias are weights, saved with them

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(20.0))  # a cosine spans ~0.2..0.8 over a query's candidates
        self.bias = torch.nn.Parameter(torch.tensor(-10.0))

    def forward(self, features: dict, **kwargs) -> dict:
        states = features["token_embeddings"]
        mask = features["attention_mask"].unsqueeze(-1).to(states.dtype)
        passage = features["token_type_ids"].unsqueeze(-1).to(states.dtype) * mask  # segment B: the passage
        question = mask - passage  # segment A with its [CLS] and [SEP]
        q = (states * question).sum(1) / question.sum(1).clamp(min=1)
        p = (states * passage).sum(1) / passage.sum(1).clamp(min=1)
        features["scores"] = (torch.nn.functional.cosine_similarity(q, p, dim=-1) * self.scale + self.bias).unsqueeze(-1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> SegmentCosine:
        return cls.load_torch_weights(model_name_or_path=model_name_or_path, subfolder=subfolder, model=cls())
