"""Config composition: every option of every group composes into the typed dataclasses."""

from __future__ import annotations

import pytest
import yaml

from rungs.config import CONF_DIR, STAGES, ConfigError, RungsConfig, compose, to_dict

GROUPS = ("model", "hardware", "corpus", "cpt", "sft", "index", "evaluate", "pipeline")
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]


def test_every_group_has_an_option():
    assert {g for g, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group, option):
    cfg = compose([f"{group}={option}"])
    assert isinstance(cfg, RungsConfig)
    expected = yaml.safe_load((CONF_DIR / group / f"{option}.yaml").read_text())
    actual = to_dict(getattr(cfg, group))
    for key, value in expected.items():
        assert actual[key] == value, f"{group}/{option}.yaml: {key}"


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
            if line and not line.startswith(("#", " ", "-", "defaults")) and ":" in line and not line.rstrip().endswith(":"):
                assert "#" in line or line.startswith("name:"), f"{path}:{number}: default without a comment"


def test_pipelines_name_known_stages():
    for option in ("full", "sft", "rag"):
        assert set(compose([f"pipeline={option}"]).pipeline.stages) <= set(STAGES)
