"""Corpus stage throughput (MB/s of raw input) and peak memory as the input grows.

    .venv/bin/python bench/corpus_throughput.py [--input ../shared/data/medquad.jsonl] [--scales 1,10] [--model gemma3-270m]

For each scale the whole corpus stage (`stages/corpus.py: run()`: read, clean, PHI rules, quality rules,
exact + MinHash near-duplicates, decontamination, tokenizer, packing, report) runs in a fresh subprocess
on `corpus=medquad` with `corpus.paths` pointed at the input, so that its peak RSS (VmHWM) belongs to that
run alone. MB/s = input bytes / wall seconds of `run()` (imports and the subprocess start excluded).

Scale k > 1 is a JSON Lines file of k copies of the input in which copy i > 0 has every word replaced
through a seeded permutation of the input's own vocabulary and its ids suffixed: the same number of
documents per copy, the same bytes and word-length profile (words swap only with words of their own length),
but k times as many distinct documents: the near-duplicate and exact-duplicate indexes grow with every
copy instead of dropping it. (Rare words standing in for common ones make the copies cost the tokenizer
more tokens than the original: MB/s at k > 1 is a lower bound.)

Phases are timed by the stage's own progress bars: "reading" (read, clean, PHI rules, quality, duplicates,
decontamination) and "packing" (tokenize + write blocks); the rest is writing documents.parquet, loading or
training the tokenizer, replay blocks and the report.

Results are printed and written, with the command, date, machine and versions, to bench/RESULTS.md under
"## Corpus stage throughput and memory" (--no-write leaves it alone).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Corpus stage throughput and memory"
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "medquad.jsonl"
_WORD = re.compile(r"[A-Za-z]+")
KEEP = ("id", "url", "source", "qtype")  # fields copied as they are


def scaled_input(source: Path, k: int, folder: Path) -> Path:
    """`source` itself for k = 1, else k vocabulary-permuted copies of it in one JSONL file."""
    if k == 1:
        return source
    target = folder / f"{source.stem}-x{k}.jsonl"
    if target.exists():
        return target
    vocab: set[str] = set()
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            for key, value in json.loads(line).items():
                if isinstance(value, str) and key not in KEEP:
                    vocab.update(w.lower() for w in _WORD.findall(value))
    by_length: dict[int, list[str]] = {}
    for word in sorted(vocab):
        by_length.setdefault(len(word), []).append(word)
    tmp = target.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as out:
        for copy in range(k):
            mapping = None
            if copy:  # words swap only with words of their own length: every copy has the input's size
                rng = random.Random(copy)
                mapping = {}
                for words in by_length.values():
                    shuffled = words[:]
                    rng.shuffle(shuffled)
                    mapping.update(zip(words, shuffled))
            with open(source, encoding="utf-8") as fh:
                for line in fh:
                    if mapping is None:
                        out.write(line)
                        continue
                    row = json.loads(line)
                    for key, value in row.items():
                        if isinstance(value, str) and key not in KEEP:
                            row[key] = _WORD.sub(lambda m, table=mapping: _swap(m.group(0), table), value)
                    row["id"] = f"{row.get('id')}#{copy}"
                    out.write(json.dumps(row) + "\n")  # escaped like the input, so sizes match
    tmp.rename(target)
    return target


def _swap(word: str, mapping: dict[str, str]) -> str:
    new = mapping[word.lower()]
    return new.capitalize() if word[:1].isupper() else new


def worker(spec: dict) -> dict:
    """One corpus build in this process; returns its timing, metrics and peak RSS."""
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import peak_rss
    from stages import corpus as stage

    cfg = compose(["corpus=medquad", f"model={spec['model']}", f"corpus.paths=['{spec['input']}']", *spec["overrides"]])
    out = Path(spec["out"])
    phases: dict[str, float] = {}
    began = time.perf_counter()
    metrics = stage.run(cfg, {}, out, _timed(progress_factory(enabled=False), phases), out.parent / "scratch")
    seconds = time.perf_counter() - began
    report = json.loads((out / "report.json").read_text())
    return {"seconds": seconds, "phases": phases, "metrics": metrics, "peak_rss": peak_rss(), "dropped": report["dropped"]}


def _current_rss() -> int:
    """This process's resident memory now (VmRSS), in bytes: what the reading phase still holds."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _timed(progress, phases: dict[str, float]):
    """A progress factory that adds each bar's lifetime (creation to close) to phases[first word after ': ']."""

    def factory(iterable=None, **kwargs):
        bar = progress(iterable, **kwargs)
        name = kwargs.get("desc", "other").split(": ", 1)[-1].split()[0]
        start = time.perf_counter()
        close = bar.close

        def timed_close():
            if not getattr(bar, "_timed_done", False):
                bar._timed_done = True
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
                phases[f"rss_after_{name}"] = _current_rss()
            close()

        bar.close = timed_close
        return bar

    return factory


def measure(source: Path, scales: list[int], model: str, overrides: list[str], work: Path, timeout: float) -> list[dict]:
    rows = []
    for k in scales:
        path = scaled_input(source, k, work)
        out = work / f"out-x{k}"
        if out.exists():
            subprocess.run(["rm", "-rf", str(out), str(work / "scratch")], check=True)
        result = work / f"result-x{k}.json"
        spec = {"input": str(path), "model": model, "out": str(out), "overrides": overrides}
        cmd = [sys.executable, __file__, "--worker", json.dumps(spec), "--result", str(result)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"scale {k}: corpus build failed\n{proc.stderr[-4000:]}")
        r = json.loads(result.read_text())
        size = path.stat().st_size
        row = {"scale": k, "input": path, "bytes": size, **r, "mb_s": size / 1e6 / r["seconds"]}
        rows.append(row)
        m = r["metrics"]
        phases = ", ".join(f"{name} {sec:.1f} s" for name, sec in r["phases"].items() if not name.startswith("rss_"))
        print(f"x{k}: {size / 1e6:,.1f} MB, {m['documents_read']:,} documents read, {m['documents_kept']:,} kept, "
              f"{r['seconds']:.1f} s ({phases}), {row['mb_s']:.2f} MB/s, peak RSS {r['peak_rss'] / 2**20:,.0f} MiB",
              flush=True)
    return rows


def markdown(rows: list[dict], command: str, model: str) -> str:
    import datasketch
    import pyarrow
    import tokenizers

    base = rows[0]
    lines = [HEADING, "",
             f"Command: `{command}`  ", (f"Date: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC; machine: "
             f"{platform.machine()}, {os.cpu_count()} CPU(s) ({platform.processor() or platform.platform()}); "
             f"Python {platform.python_version()}, pyarrow {pyarrow.__version__}, datasketch {datasketch.__version__}, "
             f"tokenizers {tokenizers.__version__}; model={model} (its tokenizer)."), "",
             ("| input | MB | documents read | kept | exact dup | near dup | quality/short | reading s (MB/s) | packing s "
             "| other s | total s | MB/s | RSS after reading (MiB) | peak RSS (MiB) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        m = r["metrics"]
        quality = m["dropped_quality"] + m["dropped_short"]
        reading = r["phases"].get("reading", float("nan"))
        packing = r["phases"].get("packing", 0.0)
        label = r["input"].name if r["scale"] == 1 else f"x{r['scale']} (permuted copies)"
        lines.append(f"| {label} | "
                     f"{r['bytes'] / 1e6:,.1f} | {m['documents_read']:,} | {m['documents_kept']:,} | {m['dropped_duplicate']:,} | "
                     f"{m['dropped_near_duplicate']:,} | {quality:,} | {reading:,.1f} ({r['bytes'] / 1e6 / reading:.2f}) | "
                     f"{packing:,.1f} | {r['seconds'] - reading - packing:,.1f} | {r['seconds']:,.1f} | {r['mb_s']:.2f} | "
                     f"{r['phases'].get('rss_after_reading', 0) / 2**20:,.0f} | {r['peak_rss'] / 2**20:,.0f} |")
    lines += ["", ("reading = read + clean + PHI rules + quality + exact/near duplicates + decontamination (MB/s of input "
                  "in brackets); packing = tokenize and write blocks; other = documents.parquet, the tokenizer (for "
                  "gemma3-270m converted from its GGUF package by rungs.train.source_tokenizer), replay blocks, report.")]
    if len(rows) > 1:
        last = rows[-1]
        growth = last["peak_rss"] / base["peak_rss"]
        after = [r["phases"].get("rss_after_reading", 0) for r in (base, last)]
        lines += ["", (f"Input grew {last['bytes'] / base['bytes']:.1f}x; peak RSS grew {growth:.2f}x "
                      f"({(last['peak_rss'] - base['peak_rss']) / 2**20:+,.0f} MiB); RSS at the end of reading, "
                      f"when the duplicate indexes are largest, grew {(after[1] - after[0]) / 2**20:+,.0f} MiB. "
                      "What grows with the corpus is "
                      "per kept document: a split score (8 B), an exact-hash key and 9 LSH band keys "
                      "(12 B each, rungs.curation.KeyIndex) and a split label; documents, blocks and the report "
                      "stream through fixed-size batches.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="JSONL with MedQuAD's fields (default: ../shared/data/medquad.jsonl)")
    parser.add_argument("--scales", default="1,10", help="comma-separated input multiples to measure (default 1,10)")
    parser.add_argument("--model", default="gemma3-270m", help="model profile whose tokenizer packs the blocks (tiny trains one)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rungs-corpus-bench", help="scratch folder for scaled inputs and outputs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file whose section to write (default bench/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per corpus build")
    parser.add_argument("overrides", nargs="*", help="extra config overrides, e.g. corpus.near_duplicate_threshold=0")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.result).write_text(json.dumps(worker(json.loads(args.worker))))
        return []
    if not args.input.exists():
        raise SystemExit(f"{args.input}: not found (pass --input)")
    args.work.mkdir(parents=True, exist_ok=True)
    scales = [int(s) for s in args.scales.split(",")]
    rows = measure(args.input.resolve(), scales, args.model, args.overrides, args.work, args.timeout)
    command = "python bench/corpus_throughput.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, command.strip(), args.model)
    print(text)
    if not args.no_write:
        from rungs.kernel import replace_section
        replace_section(args.results, HEADING, text)
    return rows


if __name__ == "__main__":
    main()
