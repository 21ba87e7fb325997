"""Tokenizers: a small byte-level BPE trained on the corpus (tiny models), with Gemma's chat format.

Special-token ids match Gemma3TextConfig's defaults (pad 0, eos 1, bos 2), so a randomly initialised
Gemma 3 model works with a trained tokenizer without any id remapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from rungs.kernel import ConfigError

PAD, EOS, BOS, UNK = "<pad>", "<eos>", "<bos>", "<unk>"
START_OF_TURN, END_OF_TURN = "<start_of_turn>", "<end_of_turn>"
SPECIAL_TOKENS = (PAD, EOS, BOS, UNK, START_OF_TURN, END_OF_TURN)  # ids 0..5, in this order
_BYTE_ALPHABET = 256

# Gemma 3's chat format. A system message becomes a prefix of the first user turn; "assistant" is
# rendered as "model". Assistant turns sit in {% generation %} blocks so that
# `apply_chat_template(..., return_assistant_tokens_mask=True)` marks the tokens to train on.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] | trim + '\n\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] | trim + '\n\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{%- if message['content'] is string -%}"
    "{%- set content = message['content'] | trim -%}"
    "{%- else -%}"
    "{%- set content = message['content'] | selectattr('type', 'equalto', 'text') "
    "| map(attribute='text') | map('trim') | join('') -%}"
    "{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if role == 'model' -%}"
    "{%- generation -%}{{ content + '<end_of_turn>' }}{%- endgeneration -%}{{ '\n' }}"
    "{%- else -%}"
    "{{ content + '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def _batches(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts` (streamed), wrapped for transformers.

    Any text round-trips (byte-level pre-tokenizer and decoder, no normaliser). Special tokens take ids
    0-5: <pad> <eos> <bos> <unk> <start_of_turn> <end_of_turn>. Encoding with special tokens prepends
    <bos>; the chat template writes its own <bos>. The vocabulary may come out smaller than
    `vocab_size` when the texts offer fewer merges. Same texts -> same tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = _BYTE_ALPHABET + len(SPECIAL_TOKENS)
    if vocab_size < minimum:
        raise ConfigError(f"model.vocab_size={vocab_size} is too small: a byte-level BPE needs at least {minimum}")

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_batches(texts), trainer=trainer)
    bos_id = core.token_to_id(BOS)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A $B:1",
        special_tokens=[(BOS, bos_id)],
    )
    for i, token in enumerate(SPECIAL_TOKENS):
        assert core.token_to_id(token) == i, (token, core.token_to_id(token))

    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[START_OF_TURN, END_OF_TURN],
        padding_side="right",
        model_max_length=1_000_000,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = GEMMA_CHAT_TEMPLATE
    return tok


def load_tokenizer(path: str | Path):
    """A tokenizer saved with `save_pretrained` (e.g. a corpus artifact's `tokenizer/`)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
