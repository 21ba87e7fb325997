"""The `rungs` command's entry: the parser of every verb group, global options, and error handling.

Each group module (`_build`, `_config`, `_advise`, `_artifacts`, `_retention`, `_ops`, `_audit`,
`_assistant`) has a `register(subparsers)` that adds its verbs with `func=<handler>`; a handler takes
the parsed args and returns the exit code. A mistyped verb, choice or flag is answered with the closest
real one; a RungsError is one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys

from rungs import __version__
from rungs.kernel import RungsError, did_you_mean

from . import _advise, _artifacts, _assistant, _audit, _build, _config, _ops, _retention
from ._output import set_quiet

GROUPS = (_build, _config, _advise, _artifacts, _retention, _ops, _audit, _assistant)  # the order of `rungs --help`

DESCRIPTION = """\
rungs specialises a language model for medicine one rung at a time:

  corpus ─► base ─► cpt (continued pretraining) ─► sft (LoRA instruction tuning)
  corpus ─► index (retrieval for RAG)            ─► evaluate (perplexity per rung, recall@k)

Every stage writes one immutable, versioned artifact into the store (./artifacts, or $RUNGS_STORE,
or --store PATH): <kind>/<id>/ with a manifest.json recording its inputs, resolved config, the
sha256 of every file, metrics, the code (git commit, package versions) and the run (host, user).

REF names an artifact: an id or a unique prefix of at least 6 hex digits, KIND:vN (e.g. cpt:v3),
KIND@ALIAS (e.g. sft@production), or a bare KIND (= KIND@latest).
"""

EPILOG = """\
examples:
  rungs status                   what `rungs run` would reuse and what it would build, and why
  rungs run --dry-run cpt.lr=1e-4   the same for a change, without running it
  rungs config model             the model options, and the model section as composed
  rungs ls                       every artifact, grouped by kind
  rungs show sft@latest          the full manifest of the newest sft adapter
  rungs lineage evaluate         which corpus, base, cpt and sft produced these scores
  rungs verify --all             re-hash everything; exit 1 naming any changed file
  rungs alias set production sft:v4 --reason "beats v3 on the eval set"
  rungs plan model=gemma3-27b hardware=gpu-24gb   peak memory per stage, and what would fit
"""

_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse, with the closest verb or choice named when a word is not one."""

    def error(self, message: str):  # noqa: D401  (argparse's hook)
        m = _INVALID_CHOICE.search(message)
        if m:
            offered = [c.strip().strip("'") for c in m.group(2).split(",")]
            message = f"{message}{did_you_mean(m.group(1), offered)}"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rungs", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", metavar="PATH", default=None, help="artifact store root (default: $RUNGS_STORE, else ./artifacts)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="results and errors only: no progress bars, notices or Prefect logs; run/stage print one line per stage")
    parser.add_argument("--version", action="version", version=f"rungs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    parser.commands = sub.choices  # verb -> its parser, for the flags a mistyped one is compared with
    return parser


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> str:
    """`unrecognized arguments: --no-progres (did you mean --no-progress?)`."""
    command = getattr(parser, "commands", {}).get(getattr(args, "command", None)) or parser
    flags = list(command._option_string_actions)  # noqa: SLF001  (argparse keeps every flag of a parser here)
    hints = "".join(did_you_mean(word, flags) for word in extra if word.startswith("-"))
    return f"unrecognized arguments: {' '.join(extra)}{hints}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # KEY=VALUE words after a flag (`rungs run --no-progress cpt.lr=1e-3`) belong to the overrides
        target = next((name for name in ("overrides", "words") if hasattr(args, name)), None)
        if extra and (target is None or any(word.startswith("-") for word in extra)):
            parser.error(_unrecognized(parser, args, extra))
        if extra:
            getattr(args, target).extend(extra)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse already printed it)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    set_quiet(args.quiet)
    try:
        return int(args.func(args) or 0)
    except RungsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rungs ls | head`
        return 0
