"""The habits of the `rungs` command: --version, -q, `rungs config`, `rungs status` and `run --dry-run`,
the closest verb, choice, flag, key or option named for a typo, and tables readable at 80 columns."""

from __future__ import annotations

import json

import pytest

from rungs import __version__
from rungs.cli import main
from rungs.kernel import compose, progress_factory
from rungs.pipeline import build
from rungs.store import Store
from tests.test_cli_audit import chain  # noqa: F401  (a fixture: corpus -> cpt -> sft, index)

ONLY_CORPUS = ["model=tiny", "pipeline.stages=[corpus]"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def corpus_store(store_root):
    """A store holding one tiny corpus artifact (seconds to build)."""
    store = Store()
    build("corpus", compose(ONLY_CORPUS), {}, store, progress=progress_factory(False))
    return store


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"rungs {__version__}"


@pytest.mark.parametrize(
    "argv,hint",
    [
        (["lss"], "did you mean ls?"),
        (["stage", "cptt"], "did you mean cpt?"),
        (["alias", "st", "production", "cpt:v1"], "did you mean set?"),
        (["ls", "--jsn"], "did you mean --json?"),
    ],
)
def test_a_mistyped_verb_choice_or_flag_names_the_closest(capsys, argv, hint):
    code, _, err = run(capsys, *argv)
    assert code == 2 and hint in err


@pytest.mark.parametrize(
    "override,hint",
    [
        ("cpt.lrr=1e-3", "did you mean cpt.lr?"),
        ("seeed=1", "did you mean seed?"),
        ("model=tinny", "did you mean tiny?"),
        ("promote.metrics.mrr.directon=higher", "did you mean promote.metrics.mrr.direction?"),
    ],
)
def test_a_mistyped_config_key_or_option_names_the_closest_not_hydras_plus(capsys, store_root, override, hint):
    code, _, err = run(capsys, "status", override)
    assert code == 2 and hint in err and "+" not in err.split(hint)[0]


def test_config_prints_the_composed_config_a_group_and_a_key(capsys):
    code, out, _ = run(capsys, "config", "model=tiny")
    assert code == 0 and "model:" in out and "name: tiny" in out and "cpt:" in out
    code, out, _ = run(capsys, "config", "model", "model=tiny")
    assert code == 0
    for option in ("tiny", "gemma3-270m", "gemma3-27b"):
        assert option in out
    assert "* tiny" in " ".join(out.split())  # the chosen one is marked
    code, out, _ = run(capsys, "config", "cpt.lr", "cpt.lr=0.25")
    assert code == 0 and out.strip() == "0.25"
    code, out, _ = run(capsys, "config", "hardware", "--json")
    data = json.loads(out)
    assert data["chosen"] == "cpu" and "gpu-24gb" in data["options"] and data["value"]["name"] == "cpu"
    code, _, err = run(capsys, "config", "cpt.lrr")
    assert code == 2 and "did you mean cpt.lr?" in err


def test_status_and_dry_run_say_what_would_be_reused_and_why_the_rest_builds(corpus_store, capsys):
    corpus = corpus_store.resolve("corpus")
    code, out, _ = run(capsys, "status", "model=tiny", "pipeline.stages=[corpus,base,index]")
    assert code == 0
    assert "reuse" in out and corpus.id in out and "no base artifact in the store yet" in out
    assert "production: none yet" in out
    code, out, _ = run(capsys, "run", "--dry-run", "model=tiny", "pipeline.stages=[corpus,base]", "corpus.min_words=6")
    assert code == 0 and "config: corpus.min_words 5 -> 6" in out and "2 to build, 0 to reuse" in out
    assert len(corpus_store.artifacts()) == 1  # nothing was built
    code, out, _ = run(capsys, "status", "--json", "model=tiny", "pipeline.stages=[corpus,base,index]")
    rows = json.loads(out)
    assert [r["stage"] for r in rows] == ["corpus", "base", "index"]
    assert rows[0]["cached"] and rows[0]["id"] == corpus.id and rows[2]["waits_for"] == ["corpus"]
    assert rows[1]["reasons"] == ["no base artifact in the store yet"]


def test_quiet_prints_one_line_per_stage(corpus_store, capsys):
    code, out, err = run(capsys, "-q", "status", *ONLY_CORPUS)
    corpus = corpus_store.resolve("corpus")
    assert code == 0 and out.split() == ["corpus", "reuse", corpus.ref, corpus.id] and err == ""


def test_tables_stay_readable_at_80_columns(chain, corpus_store, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COLUMNS", "80")
    for argv in (["ls"], ["alias", "ls"], ["log"], ["status", *ONLY_CORPUS], ["show", "cpt:v1"], ["runs"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0, argv
        too_long = [line for line in out.splitlines() if len(line) > 80]
        assert not too_long, (argv, too_long)
    code, out, _ = run(capsys, "ls")
    for art in Store().artifacts():
        assert art.id in out and art.ref in out  # ids are never cut or wrapped
