"""Packed blocks: every block and document starts with <bos>, and packed documents never see each other."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from rungs.kernel import compose
from rungs.curation import MIN_SEGMENT, pack
from rungs.train import IGNORE_INDEX, collate, next_token_loss, segment_positions

BOS, EOS, PAD = 2, 1, 0


class _Tok:
    """Word -> id tokenizer: enough for packing, whose only contact with a tokenizer is ids."""

    bos_token_id, eos_token_id, pad_token_id = BOS, EOS, PAD

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [10 + int(w) for w in text.split()]}


def _tiny_lm(vocab: int = 64):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
                              sliding_window=16, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
                              attn_implementation="sdpa")
    return Gemma3ForCausalLM(config).eval()


def _segments(block: list[int]) -> list[list[int]]:
    out = []
    for t in block:
        if t == BOS:
            out.append([])
        out[-1].append(t)
    return out


def test_blocks_are_whole_bos_led_segments_with_padding_only_at_the_end():
    texts = [" ".join(str(i % 40) for i in range(n)) for n in (5, 70, 3, 200, 31)]
    blocks = list(pack(texts, _Tok(), 64))
    assert {len(b) for b in blocks} == {64}
    assert all(b[0] == BOS for b in blocks)
    for b in blocks:
        real = [t for t in b if t != PAD]
        assert b[: len(real)] == real  # padding is a tail, never inside
        assert all(len(s) >= 2 for s in _segments(real))
    # every document token lands in exactly one block, in order
    body = [t for b in blocks for t in b if t not in (BOS, PAD, EOS)]
    assert body == [10 + i % 40 for n in (5, 70, 3, 200, 31) for i in range(n)]
    assert sum(t == EOS for b in blocks for t in b) == 5


def test_a_fragment_shorter_than_min_segment_is_not_started():
    blocks = list(pack([" ".join(["1"] * (64 - MIN_SEGMENT + 2)), " ".join(["2"] * 50)], _Tok(), 64))
    assert blocks[0][-1] == PAD and blocks[1][:2] == [BOS, 12]  # the second document starts a new block


def test_positions_restart_at_every_bos_and_bos_is_never_a_target():
    batch = collate([{"input_ids": [BOS, 11, 12, EOS, BOS, 13, EOS, PAD]}], PAD, BOS)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 3]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 11, 12, EOS, IGNORE_INDEX, 13, EOS, IGNORE_INDEX]]
    assert segment_positions(torch.tensor([[5, 6, BOS, 7]]), BOS).tolist() == [[0, 1, 0, 1]]


def test_packed_documents_are_computed_as_if_each_were_alone():
    model = _tiny_lm()
    first, second = [BOS, 11, 12, 13, 14, EOS], [BOS, 21, 22, 23, EOS]
    with torch.no_grad():
        packed = next_token_loss(model, collate([{"input_ids": first + second}], PAD, BOS), reduction="none")
        alone = torch.cat([next_token_loss(model, collate([{"input_ids": d}], PAD, BOS), reduction="none")
                           for d in (first, second)])
        # the same block without restarted positions lets the second document attend to the first
        unsegmented = collate([{"input_ids": first + second}], PAD, BOS)
        del unsegmented["position_ids"]
        leaky = next_token_loss(model, unsegmented, reduction="none")
    assert torch.allclose(packed, alone, atol=1e-5)
    second_targets = slice(len(first) - 1, None)  # labels of `second` after the first's 5 targets
    assert not torch.allclose(leaky[second_targets], alone[second_targets], atol=1e-3)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from rungs.kernel import progress_factory
    from rungs.pipeline import build
    from rungs.store import Store

    store = Store(tmp_path_factory.mktemp("packing"))
    return build("corpus", compose(["model=tiny"]), {}, store, progress=progress_factory(False)).artifact


def test_every_training_and_evaluation_block_of_a_real_corpus_starts_with_bos(tiny_corpus):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_corpus.path / "tokenizer")
    for split in ("train", "heldout", "replay", "general"):
        blocks = pq.read_table(tiny_corpus.path / "blocks" / f"{split}.parquet").column("input_ids").to_pylist()
        assert blocks and all(b[0] == tok.bos_token_id for b in blocks), split
        segments = sum(t == tok.bos_token_id for b in blocks for t in b)
        assert segments >= len(blocks)
    # the blocks hold every training document's text, each document led by its own <bos>
    train_docs = pq.read_table(tiny_corpus.path / "documents.parquet").to_pylist()
    n_train = sum(d["split"] == "train" for d in train_docs)
    ends = sum(t == tok.eos_token_id for b in pq.read_table(tiny_corpus.path / "blocks" / "train.parquet")
               .column("input_ids").to_pylist() for t in b)
    assert ends == n_train
