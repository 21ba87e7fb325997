"""The emergency detector on its blind test split: recall per category, overall recall and false alarms.

    .venv/bin/python bench/triage_eval.py [--store DIR] [KEY=VALUE ...] [--no-write]

Builds the `triage` stage (or reuses it from --store: the artifact is cached by fingerprint) with the
default configuration plus any overrides, and writes its report — rules only, classifier only and both,
on dev and on the blind test split, with 95 % bootstrap intervals, then test recall per category — to
bench/RESULTS.md under "## Emergency triage on the blind test split". The test split was written without
sight of the detector or the other splits (corpora/triage/README.md); nothing is tuned on it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Emergency triage on the blind test split"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "rungs-bench-store")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. triage.epochs=0")
    args = parser.parse_args(argv)

    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store

    result = build("triage", compose(args.overrides), {}, Store(args.store), progress=progress_factory(False))
    art = result.artifact
    report = (art.path / "report.md").read_text().split("\n", 2)[2]  # without its own title
    print(report)
    if not args.no_write:
        from rungs.kernel import replace_section

        command = "python bench/triage_eval.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        built = "reused from the store" if result.cached else f"built in {result.seconds:.0f} s"
        text = "\n".join([HEADING, "",
                          f"`{command.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores: "
                          f"artifact {art.ref} `{art.id}` ({built}). Goal: recall >= 0.98 with false alarms <= 0.10.",
                          "", report.strip(), ""])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
