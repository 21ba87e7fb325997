"""Every numeric config key has a range, checked at composition with the key, the value and the range in
the message, all before Prefect starts (issue 13: `cpt.max_steps=0` ended in IndexError mid-run,
`corpus.replay_ratio=2` built a corpus with a negative block count, `cpt.warmup_steps=-3` was promoted)."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Union, get_args, get_origin, get_type_hints

import pytest

from rungs.kernel import ConfigError, RungsConfig, compose

NUMERIC = (int, float)


def _numeric(hint) -> bool:
    if get_origin(hint) in (Union, types.UnionType):
        return any(_numeric(a) for a in get_args(hint) if a is not type(None))
    if get_origin(hint) is list:
        return _numeric(get_args(hint)[0])
    return hint in NUMERIC


def _sections(cls, prefix=""):
    for f in dataclasses.fields(cls):
        hint = get_type_hints(cls)[f.name]
        yield f"{prefix}{f.name}", f, hint
        inner = get_args(hint)[-1] if get_origin(hint) in (dict, list) else hint
        if dataclasses.is_dataclass(inner):
            yield from _sections(inner, f"{prefix}{f.name}.")


def test_every_numeric_key_of_the_schema_has_a_range():
    unchecked = [key for key, f, hint in _sections(RungsConfig) if _numeric(hint) and "range" not in f.metadata]
    assert unchecked == []
    # and every default lies inside its own range
    from rungs.kernel._schema import check_ranges  # noqa: PLC2701

    assert check_ranges(RungsConfig()) == []


def test_out_of_range_overrides_name_key_value_and_range_all_at_once():
    with pytest.raises(ConfigError) as caught:
        compose(["model=tiny", "cpt.max_steps=0", "sft.max_steps=-5", "cpt.batch_size=0", "cpt.lr=-1",
                 "corpus.replay_ratio=2", "cpt.warmup_steps=-3", "evaluate.ks=[0,5]"])
    message = str(caught.value)
    assert message.startswith("7 config values are out of range")
    for part in ("cpt.max_steps=0: outside the allowed range [1, ∞)", "sft.max_steps=-5: outside the allowed range [1, ∞)",
                 "cpt.batch_size=0: outside the allowed range [1, ∞)", "cpt.lr=-1.0: outside the allowed range (0, ∞)",
                 "corpus.replay_ratio=2.0: outside the allowed range [0, 1)",
                 "cpt.warmup_steps=-3: outside the allowed range [0, ∞)", "evaluate.ks[0]=0: outside the allowed range [1, ∞)"):
        assert part in message


def test_nan_and_relations_between_keys():
    with pytest.raises(ConfigError, match=r"prompt\.temperature=nan: outside the allowed range \[0, 2\]"):
        compose(["model=tiny", "prompt.temperature=nan"])
    with pytest.raises(ConfigError, match=r"index\.overlap_words=500: must be < index\.chunk_words \(120\)"):
        compose(["model=tiny", "index.overlap_words=500"])


def _no_prefect(monkeypatch):
    """flows.specialize replaced by a module whose flows fail the test if anything reaches them."""
    fake = types.ModuleType("flows.specialize")

    def reached(*args, **kwargs):
        raise AssertionError("Prefect was started")

    fake.specialize = fake.stage = reached
    monkeypatch.setitem(sys.modules, "flows.specialize", fake)


def test_bad_input_refs_and_values_fail_before_prefect_starts(tmp_path, monkeypatch, capsys):
    from rungs.cli import main

    _no_prefect(monkeypatch)
    store = ["--store", str(tmp_path / "store")]
    assert main([*store, "stage", "cpt", "inputs.base=base:v9", "model=tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: base:v9: no artifacts of kind 'base'") and err.count("\n") == 1
    assert main([*store, "stage", "cpt", "inputs.base=base@../../_log/runs.jsonl", "model=tiny"]) == 2
    assert "invalid alias name" in capsys.readouterr().err
    assert main([*store, "run", "model=tiny", "cpt.max_steps=0"]) == 2
    err = capsys.readouterr().err
    assert "cpt.max_steps=0: outside the allowed range [1, ∞)" in err and err.count("\n") == 1
