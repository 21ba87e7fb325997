"""`rungs advise`: the five-question quiz, its scoring table, and the command it prints."""

from __future__ import annotations

import io
import itertools
import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from rungs.pipeline import QUESTIONS, RUNGS, score
from rungs.cli import build_parser, main
from rungs.kernel import CONF_DIR, PROJECT_ROOT, compose

# one answer profile that should land on each rung
PROFILES = {
    "rag": {"failure": "hallucination", "data": "documents", "dynamic": "high", "headache": "facts", "budget": "small"},
    "sft": {"failure": "behaviour", "data": "examples", "dynamic": "medium", "headache": "style", "budget": "medium"},
    "full": {"failure": "language", "data": "corpus", "dynamic": "low", "headache": "jargon", "budget": "large"},
}


def flags(answers: dict[str, str]) -> list[str]:
    return [word for key, value in answers.items() for word in (f"--{key}", value)]


def advise_json(capsys, *words: str) -> dict:
    assert main(["advise", *words, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_briefs_example_recommends_rag_with_reasons_and_the_command(capsys):
    words = shlex.split("--failure hallucination --data documents --dynamic high --headache jargon --budget small")
    assert main(["advise", *words]) == 0
    out = capsys.readouterr().out
    assert "recommended: pipeline=rag" in out
    assert "\n  rungs run pipeline=rag\n" in out
    # every answer's reason and its points are shown; jargon alone points at full, and that is visible
    for q in QUESTIONS:
        option = q.option(words[words.index(q.flag) + 1])
        assert option.reason in out
    assert "headache: jargon" in out and "total" in out
    assert "stages: corpus → base → index → triage → evaluate" in out
    assert "plan fits" in out


@pytest.mark.parametrize("rung", RUNGS)
def test_each_rung_wins_its_profile_and_the_printed_command_runs_that_pipeline(capsys, rung):
    advice = advise_json(capsys, *flags(PROFILES[rung]))
    assert advice["recommended"] == rung and advice["pipeline"] == f"pipeline={rung}"
    assert advice["scores"][rung] == max(advice["scores"].values())
    assert [a["question"] for a in advice["answers"]] == [q.key for q in QUESTIONS]
    assert all(a["reason"] for a in advice["answers"])
    # the exact command: `rungs` + words the CLI parser routes to `rungs run`, composing to that pipeline
    argv = shlex.split(advice["command"])
    assert argv[0] == "rungs" and argv[1:] == advice["argv"]
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run"
    cfg = compose(args.overrides)
    assert cfg.pipeline.name == rung
    expected = yaml.safe_load((CONF_DIR / "pipeline" / f"{rung}.yaml").read_text())["stages"]
    assert cfg.pipeline.stages == expected == advice["stages"]
    assert advice["plan"]["fits"] is True


def test_the_table_is_complete_and_every_rung_can_win():
    for q in QUESTIONS:
        assert len({o.key for o in q.options}) == len(q.options) >= 3
        for o in q.options:
            assert o.reason and o.label and set(o.points) <= set(RUNGS), (q.key, o.key)
    winners = {}
    for combo in itertools.product(*(q.options for q in QUESTIONS)):
        answers = {q.key: o.key for q, o in zip(QUESTIONS, combo)}
        totals, best = score(answers)
        assert totals == {r: sum(o.points.get(r, 0) for o in combo) for r in RUNGS}
        # the winner has the top score and, among equals, is the cheapest rung
        assert best == next(r for r in RUNGS if totals[r] == max(totals.values()))
        winners[best] = winners.get(best, 0) + 1
    assert set(winners) == set(RUNGS), winners


def test_a_tie_goes_to_the_lower_rung_and_says_so(capsys):
    answers = {"failure": "behaviour", "data": "corpus", "dynamic": "low", "headache": "jargon", "budget": "medium"}
    totals, best = score(answers)
    assert totals["sft"] == totals["full"] > totals["rag"] and best == "sft"
    assert main(["advise", *flags(answers)]) == 0
    out = capsys.readouterr().out
    assert "recommended: pipeline=sft" in out and "tied with pipeline=full" in out


def test_quiz_asks_numbered_questions_and_reasks_on_bad_input(monkeypatch, capsys):
    # 7 is out of range, "nope" is no key, an empty line is no answer; keys and numbers both work
    monkeypatch.setattr(sys, "stdin", io.StringIO("7\nnope\n\n3\nexamples\n2\nstyle\n2\n"))
    assert main(["advise"]) == 0
    captured = capsys.readouterr()
    assert "1. What is the one thing that would make this project fail?" in captured.err
    assert "   3) It behaves wrongly" in captured.err
    assert "'7' is not a choice" in captured.err and "'nope' is not a choice" in captured.err
    assert "no answer: type a number from 1 to 4" in captured.err
    assert "recommended: pipeline=sft" in captured.out and "Question" not in captured.out


def test_flags_answer_some_questions_and_the_quiz_asks_only_the_rest(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("3\n3\n"))
    assert main(["advise", "--failure", "language", "--data", "corpus", "--dynamic", "low"]) == 0
    captured = capsys.readouterr()
    assert "4. What is the biggest headache" in captured.err and "5. What is the honest budget" in captured.err
    assert "1. What is the one thing" not in captured.err and "2. What data" not in captured.err
    assert "recommended: pipeline=full" in captured.out
    assert "\n  rungs run pipeline=full\n" in captured.out


def test_input_that_ends_early_names_the_flag_to_use(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n1\n1\n1\n"))
    assert main(["advise"]) == 2
    err = capsys.readouterr().err
    assert "error: no answer to question 5" in err and "--budget {small,medium,large}" in err


def test_bad_flag_value_and_bad_override_fail_clearly(capsys):
    assert main(["advise", "--budget", "huge"]) == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert main(["advise", *flags(PROFILES["rag"]), "model=nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_hardware_and_overrides_join_the_command(capsys):
    advice = advise_json(capsys, *flags(PROFILES["sft"]), "--hardware", "gpu-24gb", "model=tiny")
    assert advice["command"] == "rungs run pipeline=sft hardware=gpu-24gb model=tiny"
    args = build_parser().parse_args(advice["argv"])
    cfg = compose(args.overrides)
    assert (cfg.pipeline.name, cfg.hardware.name, cfg.model.name) == ("sft", "gpu-24gb", "tiny")


def test_piped_stdin_that_is_not_a_terminal(tmp_path):
    """The real command with stdin from a pipe: questions and echoed answers on stderr, JSON on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "rungs.cli", "advise", "--json"],
        check=False, input="1\n1\n1\n1\n1\n", capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert advice["recommended"] == "rag" and advice["command"] == "rungs run pipeline=rag"
    assert advice["scores"] == {"rag": 15, "sft": 0, "full": -3}
    assert "5. What is the honest budget" in done.stderr and "answer 1-3: 1\n" in done.stderr


def test_help_lists_the_five_questions(capsys):
    assert main(["advise", "--help"]) == 0
    out = capsys.readouterr().out
    for q in QUESTIONS:
        assert q.flag in out
    assert "--json" in out and "--hardware" in out
