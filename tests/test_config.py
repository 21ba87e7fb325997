"""Config composition: every option of every group composes into the typed dataclasses."""

from __future__ import annotations

import pytest
import yaml

from rungs.kernel import CONF_DIR, ConfigError, KINDS, RungsConfig, compose, to_dict

GROUPS = ("model", "hardware", "corpus", "cpt", "sft", "index", "triage", "evaluate", "pipeline")
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]


def test_every_group_has_an_option():
    assert {g for g, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group, option):
    cfg = compose([f"{group}={option}"] if group == "model" else ["model=tiny", f"{group}={option}"])
    assert isinstance(cfg, RungsConfig)
    text = (CONF_DIR / group / f"{option}.yaml").read_text()
    loaded = yaml.safe_load(text)
    # model and hardware files are global: they also tune the stages they shape
    sections = loaded if text.startswith("# @package _global_") else {group: loaded}
    # keys the default model and hardware files set win over stage groups by design
    tuned = {} if group in ("model", "hardware") else _global_keys("model/tiny.yaml") | _global_keys("hardware/cpu.yaml")
    for name, expected in sections.items():
        if name == "defaults":  # a profile built on another (gemma3-27b-it on gemma3-27b)
            continue
        actual = to_dict(getattr(cfg, name))
        for key, value in expected.items():
            if (name, key) in RESOLVED and value in RESOLVED[name, key]:
                continue  # composing fills it in: the variant a pipeline wants, a card's usable memory
            if (name, key) not in tuned and key != "defaults":
                _assert_within(actual[key], value, f"{group}/{option}.yaml: {name}.{key}")


# values composing resolves (rungs.kernel._compose: resolve_variant, _resolve_memory), from what the YAML may say
RESOLVED = {("model", "variant"): ("auto",), ("model", "path"): (None,), ("hardware", "memory_gb"): (None,),
            ("hardware", "host_memory_gb"): (None,)}


def _assert_within(actual, expected, where: str) -> None:
    """Every value the YAML sets arrives; a nested mapping may leave keys to the dataclass defaults."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            _assert_within(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict):  # e.g. corpus.sources
        assert len(actual) == len(expected), where
        for i, (got, want) in enumerate(zip(actual, expected)):
            _assert_within(got, want, f"{where}[{i}]")
    else:
        assert actual == expected, where


def _global_keys(rel: str) -> set[tuple[str, str]]:
    return {(section, key) for section, values in yaml.safe_load((CONF_DIR / rel).read_text()).items() for key in values}


def test_overrides_are_typed():
    cfg = compose(["cpt.lr=3e-4", "cpt.max_steps=7", "corpus.paths=[a.jsonl,b.md]"])
    assert cfg.cpt.lr == pytest.approx(3e-4) and isinstance(cfg.cpt.lr, float)
    assert cfg.cpt.max_steps == 7
    assert cfg.corpus.paths == ["a.jsonl", "b.md"]


@pytest.mark.parametrize(
    "override,needle",
    [("cpt.lrr=1", "cpt.lrr"), ("cpt.max_steps=many", "max_steps"), ("model=nope", "nope"), ("pipeline.stages=[corpus,bake]", "bake")],
)
def test_bad_config_fails_clearly(override, needle):
    with pytest.raises(ConfigError) as err:
        compose([override])
    assert needle in str(err.value)


def test_every_default_has_a_why_comment():
    for path in CONF_DIR.rglob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line and not line.lstrip().startswith(("#", "-")) and ":" in line and not line.rstrip().endswith(":"):
                assert "#" in line or line.strip().startswith("name:"), f"{path}:{number}: default without a comment"


def test_pipelines_name_known_stages():
    for option in ("full", "sft", "rag"):
        assert set(compose([f"pipeline={option}"]).pipeline.stages) <= set(KINDS)


def test_model_and_hardware_bring_their_training_settings_and_overrides_still_win():
    tiny = compose(["model=tiny"])
    assert tiny.cpt.lr == pytest.approx(3e-3) and tiny.cpt.method == "full"
    real = compose(["model=gemma3-270m"])
    assert real.cpt.method == "lora" and real.cpt.lr == pytest.approx(2e-4) and real.model.tokenizer == "model"
    qlora = compose(["model=gemma3-27b", "hardware=gpu-24gb"])
    assert (qlora.hardware.quant, qlora.hardware.optimizer, qlora.cpt.method) == ("nf4", "paged_adamw_8bit", "lora")
    assert qlora.hardware.gradient_checkpointing
    assert compose(["model=tiny", "cpt.lr=1e-4"]).cpt.lr == pytest.approx(1e-4)


def test_nf4_with_full_cpt_is_refused():
    with pytest.raises(ConfigError, match="cpt.method=lora"):
        compose(["model=tiny", "hardware.quant=nf4"])


def test_an_unchanged_composition_is_remembered_between_processes(tmp_path):
    """A second process with the same overrides and conf/ composes nothing: Hydra is not even imported."""
    import json
    import os
    import subprocess
    import sys

    code = ("import sys, json\nfrom rungs.kernel import compose\ncfg = compose(['model=tiny', 'cpt.lr=0.125'])\n"
            "print(json.dumps([cfg.cpt.lr, 'hydra' in sys.modules]))")
    env = {**os.environ, "RUNGS_CACHE": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
                       .stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert runs == [[0.125, True], [0.125, False]]
    assert len(list((tmp_path / "config").glob("*.pickle"))) == 1

