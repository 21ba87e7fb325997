"""`rungs advise`: the strategy quiz asked on a terminal or a pipe, its answers scored (rungs.pipeline) and
the recommended command printed with each answer's points and reason."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

from rungs.kernel import RungsError, groups
from rungs.pipeline import QUESTIONS, RUNG_INFO, RUNGS, VARIANTS, Advice, Question, advise


def ask(question: Question, number: int, stdin: IO[str], out: IO[str]) -> str:
    """Ask one question with numbered choices until the answer is a number or an option's key."""
    keys = [o.key for o in question.options]
    out.write(f"\n{number}. {question.text}\n")
    for i, option in enumerate(question.options, 1):
        out.write(f"   {i}) {option.label}  [{option.key}]\n")
    while True:
        out.write(f"   answer 1-{len(keys)}: ")
        out.flush()
        line = stdin.readline()
        if line and not stdin.isatty():  # a pipe does not echo: keep the transcript readable
            out.write(line if line.endswith("\n") else line + "\n")
        if not line:  # end of input: a pipe or file ran out before every question was answered
            out.write("\n")
            raise RungsError(
                f"no answer to question {number} ({question.text!r}): input ended; "
                f"answer it with {question.flag} {{{','.join(keys)}}}"
            )
        word = line.strip().lower()
        if word.isdigit() and 1 <= int(word) <= len(keys):
            return keys[int(word) - 1]
        if word in keys:
            return word
        shown = f"{word!r} is not a choice" if word else "no answer"
        out.write(f"   {shown}: type a number from 1 to {len(keys)} or one of {', '.join(keys)}\n")


def quiz(given: dict[str, str], stdin: IO[str], out: IO[str]) -> dict[str, str]:
    """The answers given as flags, with every other question asked on stdin (prompts on `out`)."""
    answers = dict(given)
    todo = [q for q in QUESTIONS if q.key not in answers]
    if todo:
        out.write("rungs advise: five questions to find the rung to start on (type a number and Enter).\n")
    for q in todo:
        answers[q.key] = ask(q, QUESTIONS.index(q) + 1, stdin, out)
    return answers


def _signed(n: int) -> str:
    return f"{n:+d}" if n else "·"


def render(advice: Advice) -> str:
    info = RUNG_INFO[advice.rung]
    width = max(len(q.key) + 2 + len(q.option(advice.answers[q.key]).key) for q in QUESTIONS)
    lines = ["", "points per rung for each answer:", f"{'answer':<{width}}  " + "  ".join(f"{r:>4}" for r in RUNGS)]
    for q in QUESTIONS:
        o = q.option(advice.answers[q.key])
        lines.append(f"{q.key + ': ' + o.key:<{width}}  " + "  ".join(f"{_signed(o.points.get(r, 0)):>4}" for r in RUNGS))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{advice.scores[r]:>4}" for r in RUNGS))
    lines += ["", "why:"]
    for q in QUESTIONS:
        o = q.option(advice.answers[q.key])
        lines.append(f"  {q.key} = {o.key}: {o.reason}")
    ties = [r for r in RUNGS if advice.scores[r] == advice.scores[advice.rung] and r != advice.rung]
    lines += ["", f"recommended: pipeline={advice.rung} — {info.title}", f"  {info.what}"]
    if ties:
        lines.append(
            f"  (tied with {', '.join(f'pipeline={r}' for r in ties)}: the lower rung wins — it is cheaper, and "
            "the store keeps what it built when you climb)"
        )
    lines.append(f"  stages: {' → '.join(advice.stages)}")
    m = advice.model
    if m:
        where = m.get("path") or m.get("package")
        lines.append(f"  model: {m['name']}{f' ({where})' if where else ''}, {VARIANTS[m['variant']]}: {m['why']}")
    lines += ["", "start with:", f"  {advice.command}", ""]
    lines.append(f"  {info.data}")
    if advice.plan_message:
        mark = "memory" if advice.plan_fits else "memory (rungs run will refuse this; see `rungs plan`)"
        lines.append(f"  {mark}: " + advice.plan_message.replace("\n", "\n    "))
    lines.append(f"  next: {info.climb}")
    return "\n".join(lines) + "\n"


def cmd_advise(args: argparse.Namespace) -> int:
    given = {q.key: getattr(args, q.key) for q in QUESTIONS if getattr(args, q.key)}
    answers = quiz(given, sys.stdin, sys.stderr)
    result = advise(answers, args.hardware, args.overrides)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(result))
    sys.stdout.flush()
    return 0


def _choices_help(q: Question) -> str:
    return "; ".join(f"{o.key}: {o.label}" for o in q.options)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "advise",
        help="which rung? a five-question quiz that recommends rag, sft or full and the command to run",
        description=(
            "Five questions — what would make the project fail, the data on hand, how dynamic the environment "
            "is, the biggest headache an out-of-the-box model causes, the honest budget — scored to the rung to "
            "start on: pipeline=rag (retrieval + prompt), pipeline=sft (LoRA + retrieval) or pipeline=full "
            "(continued pretraining + LoRA + retrieval). Prints each answer's points and reason, the total per "
            "rung and the exact `rungs run` command. Questions not answered by a flag are asked on stdin "
            "(numbered choices; a terminal or a pipe). Ties go to the cheaper rung."
        ),
        epilog=(
            "examples:\n"
            "  rungs advise                     ask the five questions\n"
            "  rungs advise --failure hallucination --data documents --dynamic high --headache jargon --budget small\n"
            "  rungs advise --failure behaviour --data examples --dynamic medium --headache style --budget medium "
            "--hardware gpu-24gb --json\n"
            "  printf '1\\n1\\n1\\n1\\n1\\n' | rungs advise"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for q in QUESTIONS:
        p.add_argument(
            q.flag,
            choices=[o.key for o in q.options],
            default=None,
            metavar="{" + ",".join(o.key for o in q.options) + "}",
            help=f"{q.text} {_choices_help(q)}",
        )
    p.add_argument(
        "--hardware",
        choices=groups()["hardware"],
        default=None,
        help="add hardware=PROFILE to the command (default: none, i.e. the cpu profile)",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides for the command (e.g. model=gemma3-27b)")
    p.add_argument("--json", action="store_true", help="print the advice as JSON (questions still go to stderr)")
    p.set_defaults(func=cmd_advise)
