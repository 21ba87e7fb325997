"""PHI scrubber evaluation: per-kind precision / recall / F1 on the annotated notes, dev and test.

    .venv/bin/python bench/phi_eval.py              # print, and write its section into bench/RESULTS.md
    .venv/bin/python bench/phi_eval.py --no-write   # print only
    .venv/bin/python bench/phi_eval.py --errors dev # also list every miss and false positive on dev

Measures (see corpora/phi/README.md for the annotation guidelines):
- recall: a gold span counts as caught when every non-space character of it lies inside some
  predicted span of any kind; what matters for privacy is that nothing leaks, not the label.
  Reported per gold kind.
- precision: a predicted span is correct when it overlaps a gold span (any kind); a predicted span
  touching no identifier destroyed clinical text. Reported per predicted kind.
- strict: exact (start, end, kind) matches, for the record.
- false positives on PHI-free text: replacements made in the 69 patient-education documents of
  corpora/documents, which contain no identifiers, per 10,000 words.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rungs.curation import PHI_KINDS, PhiSpan, find_spans

ANNOTATED = ROOT / "corpora" / "phi" / "annotated.jsonl"
CLEAN_DOCS = ROOT / "corpora" / "documents"
START, END = "<!-- phi_eval:start -->", "<!-- phi_eval:end -->"


def load(path: Path = ANNOTATED) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: not JSON ({exc})") from exc
    return rows


def _covered(text: str, gold: dict, preds: list[PhiSpan]) -> bool:
    for i in range(gold["start"], gold["end"]):
        if text[i].isspace():
            continue
        if not any(p.start <= i < p.end for p in preds):
            return False
    return True


def evaluate(rows: list[dict]) -> dict:
    """Counts per kind and the lists of misses / false positives for one split."""
    gold_n: Counter = Counter()
    caught: Counter = Counter()
    pred_n: Counter = Counter()
    pred_ok: Counter = Counter()
    strict_tp = strict_pred = strict_gold = 0
    misses: list[tuple[str, str, str]] = []
    false_pos: list[tuple[str, str, str]] = []
    chars = 0
    find_spans("Seen by Dr. Smith in Boston on 01/02/2020.")  # load the word lists outside the timing
    t0 = time.perf_counter()
    for row in rows:
        text, gold = row["text"], row["spans"]
        chars += len(text)
        preds = find_spans(text)
        for g in gold:
            gold_n[g["kind"]] += 1
            if _covered(text, g, preds):
                caught[g["kind"]] += 1
            else:
                misses.append((row["id"], g["kind"], g["text"]))
        for p in preds:
            pred_n[p.kind] += 1
            if any(p.start < g["end"] and g["start"] < p.end for g in gold):
                pred_ok[p.kind] += 1
            else:
                false_pos.append((row["id"], p.kind, text[p.start : p.end]))
        gold_set = {(g["start"], g["end"], g["kind"]) for g in gold}
        pred_set = {(p.start, p.end, p.kind) for p in preds}
        strict_tp += len(gold_set & pred_set)
        strict_pred += len(pred_set)
        strict_gold += len(gold_set)
    seconds = time.perf_counter() - t0
    return {
        "gold": gold_n, "caught": caught, "pred": pred_n, "pred_ok": pred_ok,
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


def table(res: dict) -> list[str]:
    lines = ["| kind | gold spans | recall | predicted | precision | F1 |", "|---|---:|---:|---:|---:|---:|"]
    for kind in PHI_KINDS:
        g, c, p, ok = res["gold"][kind], res["caught"][kind], res["pred"][kind], res["pred_ok"][kind]
        if not g and not p:
            continue
        r, pr = _ratio(c, g), _ratio(ok, p)
        lines.append(f"| {kind} | {g} | {_fmt(r)} | {p} | {_fmt(pr)} | {_fmt(_f1(pr, r))} |")
    g, c = sum(res["gold"].values()), sum(res["caught"].values())
    p, ok = sum(res["pred"].values()), sum(res["pred_ok"].values())
    r, pr = _ratio(c, g), _ratio(ok, p)
    lines.append(f"| **all** | **{g}** | **{_fmt(r)}** | **{p}** | **{_fmt(pr)}** | **{_fmt(_f1(pr, r))}** |")
    return lines


def overall(res: dict) -> tuple[float, float, float]:
    g, c = sum(res["gold"].values()), sum(res["caught"].values())
    p, ok = sum(res["pred"].values()), sum(res["pred_ok"].values())
    r, pr = c / g, (ok / p if p else 1.0)
    return pr, r, _f1(pr, r) or 0.0


def clean_docs_false_positives() -> tuple[int, int, Counter, list[str]]:
    words = 0
    kinds: Counter = Counter()
    examples: list[str] = []
    for path in sorted(CLEAN_DOCS.glob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        words += len(text.split())
        for sp in find_spans(text):
            kinds[sp.kind] += 1
            if len(examples) < 8:
                examples.append(f"{path.stem}: {sp.kind} `{text[sp.start:sp.end]}`")
    return sum(kinds.values()), words, kinds, examples


def research_abstracts(path: Path) -> tuple[int, int, float, Counter] | None:
    """Replacements made in PubMedQA abstracts (research text: no patient identifiers, but study
    sites and periods, eponyms and named scales), and the speed on them."""
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


def section(results: dict[str, dict], clean: tuple, abstracts: tuple | None = None) -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "## PHI scrubber (de-identification): precision and recall",
        "",
        "```bash",
        ".venv/bin/python bench/phi_eval.py",
        "```",
        "",
        (f"{now}, {platform.python_implementation()} {platform.python_version()} on {platform.machine()}; "
        "`rungs.curation.scrub` is rule-based (regular expressions, cue words, the word lists in `rungs/curation/gazetteers/`), "
        "no model."),
        "",
        ("Data: `corpora/phi/annotated.jsonl`, synthetic clinical notes written for the project (no real "
        "patient data) by the same author as the scrubber. The rules were tuned on **dev** (and on false "
        "positives in MTS-Dialog and PubMedQA text). **test** was written before tuning began; "
        "its first run gave recall 0.961, precision 0.993, and later generic changes (bigger name and "
        "city lists) lifted it, so it is no longer strictly held out. **test2** was written after the "
        "tuning and run once: recall 0.961, precision 1.000 — the most honest figure here. Recall: a gold span is "
        "caught when all its characters are replaced (any placeholder kind); precision: a replacement "
        "is correct when it touches a gold span. Guidelines: `corpora/phi/README.md`."),
        "",
    ]
    for split, res in results.items():
        tp, np_, ng = res["strict"]
        out += [
            f"### {split} ({res['notes']} notes, {sum(res['gold'].values())} gold spans)",
            "",
            *table(res),
            "",
            (f"Strict (exact offsets and kind): precision {_fmt(_ratio(tp, np_))}, recall {_fmt(_ratio(tp, ng))}. "
            f"Speed: {res['chars'] / max(res['seconds'], 1e-9) / 1e6:.2f} MB/s on one core."),
            "",
        ]
        if res["misses"]:
            shown = "; ".join(f"{k} `{t}`" for _, k, t in res["misses"][:12])
            out += [f"Missed on {split}: {shown}.", ""]
        if res["false_pos"]:
            shown = "; ".join(f"{k} `{t}`" for _, k, t in res["false_pos"][:12])
            out += [f"False positives on {split}: {shown}.", ""]
    n, words, kinds, examples = clean
    per = 1e4 * n / max(words, 1)
    detail = ", ".join(f"{k} {v}" for k, v in kinds.most_common()) or "none"
    out += [
        f"PHI-free text (`corpora/documents`, {words:,} words of patient education): {n} replacements "
        f"({per:.1f} per 10,000 words; {detail})." + (f" Examples: {'; '.join(examples)}." if examples else ""),
        "",
    ]
    if abstracts:
        words, chars, seconds, kinds = abstracts
        detail = ", ".join(f"{k} {v}" for k, v in kinds.most_common())
        out += [
            (f"PubMedQA abstracts (`../shared/data/pubmedqa.jsonl`, {words:,} words, no patient identifiers): "
            f"{sum(kinds.values())} replacements ({detail}). Study periods (\"from January 2010\") and study "
            "cities go by policy; the NAME replacements there are false positives (eponymous scores and "
            f"equations). Speed on this text: {chars / seconds / 1e6:.2f} MB/s on one core — about "
            "60 regular-expression passes in pure Python; run it in several processes for large corpora."),
            "",
        ]
    held = [s for s in ("test", "test2") if s in results]
    if held:
        scores = {s: overall(results[s])[1] for s in held}
        met = all(r >= 0.95 for r in scores.values())
        detail = ", ".join(f"{s} {r:.3f}" for s, r in scores.items())
        out += [f"Goal recall ≥ 0.95 on the held-out splits: **{'met' if met else 'not met'}** ({detail})."]
    return "\n".join(out).rstrip() + "\n"


def write_section(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    block = f"{START}\n{body}{END}\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END) + r"\n?", lambda _m: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ANNOTATED, help="annotated JSONL (default: %(default)s)")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md", help="where the section goes")
    ap.add_argument("--abstracts", type=Path, default=ROOT.parent / "shared" / "data" / "pubmedqa.jsonl",
                    help="PubMedQA JSONL for the false-positive count on research text (skipped if missing)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--errors", choices=["dev", "test", "test2"], help="list every miss and false positive of a split")
    args = ap.parse_args(argv)

    rows = load(args.data)
    results = {}
    for split in ("dev", "test", "test2"):
        part = [r for r in rows if r["split"] == split]
        if part:
            results[split] = evaluate(part)
    clean = clean_docs_false_positives()
    body = section(results, clean, research_abstracts(args.abstracts))
    print(body)
    if args.errors and args.errors in results:
        res = results[args.errors]
        for note, kind, t in res["misses"]:
            print(f"MISS {note} {kind} {t!r}")
        for note, kind, t in res["false_pos"]:
            print(f"FP   {note} {kind} {t!r}")
    if not args.no_write:
        write_section(args.results, body)
        print(f"wrote the section into {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
