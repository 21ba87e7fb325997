"""Audit reports: `rungs audit REF` writes one document model as Markdown (with `lineage.png` beside it),
as a self-contained HTML page (the PNG embedded) and as `audit.json`.

An audit report answers an auditor's questions about one artifact without access to the machine:
every upstream artifact down to the raw files, with the sha256 of each file, the resolved config,
the code (git commit, package versions), the metrics, who ran it and when, which aliases point at it
and whether every file still hashes to what was recorded at publish.

Both renderings come from one document model (a list of blocks), so they never disagree.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rungs.kernel import flatten, human_bytes
from rungs.store import Store

from ._drawing import lineage_png
from ._facts import collect


def show_value(value: Any) -> str:
    """A value in a report or diff cell: None as a dash, floats to 6 significant digits, structures as JSON."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _bytes(n: Any) -> str:
    return human_bytes(n) if isinstance(n, (int, float)) else show_value(n)


def _document(report: dict) -> list[tuple]:
    """Blocks: ("h", level, text), ("p", text), ("kv", [(k, v)]), ("table", headers, rows), ("img",),
    ("status", ok, text), ("list", [text])."""
    subj = report["subject"]
    arts = report["artifacts"]
    n = len(arts)
    blocks: list[tuple] = [("h", 1, f"Audit of {subj['ref']} ({subj['id']})")]
    blocks.append(("p", f"Generated {report['generated_at']} by {report['generated_by']} from the store at {report['store']}."))
    if report["ok"]:
        blocks.append(("status", True, f"Every file of all {n} artifacts in this lineage still matches its recorded sha256."))
    else:
        parts = []
        if report["failed"]:
            parts.append(f"{len(report['failed'])} of {n} artifacts changed since publish: {', '.join(report['failed'])}")
        if report["missing"]:
            parts.append(f"inputs missing from the store: {', '.join(report['missing'])}")
        if not report["history"]["ok"]:
            parts.append(f"the store's history has {len(report['history']['problems'])} break(s)")
        blocks.append(("status", False, "VERIFICATION FAILED — " + "; ".join(parts) + "."))
    blocks.extend(_history_blocks(report["history"]))
    blocks.append(("h", 2, "Lineage"))
    blocks.append(("img",))
    blocks.append(("h", 2, "Artifacts"))
    blocks.append((
        "table",
        ["artifact", "id", "created (UTC)", "by", "duration", "files", "verifies", "aliases"],
        [
            [a["ref"], a["id"], a["created_at"], _who_of(a), f"{show_value(a['duration_s'])} s", str(len(a["files"])),
             "yes" if a["verify"]["ok"] else "NO", ", ".join(a["aliases"])]
            for a in arts
        ],
    ))
    blocks.extend(_packages_blocks(arts))
    for a in reversed(arts):  # the subject first, then its inputs
        blocks.extend(_artifact_blocks(a))
    if report["events"]:
        blocks.append(("h", 2, "Event log (publishes, alias moves, removals of these artifacts)"))
        blocks.append((
            "table",
            ["at", "event", "what", "by", "reason"],
            [
                [str(e.get("at", "")), str(e.get("event", "")), _event_what(e), f"{e.get('user')}@{e.get('host')}", str(e.get("reason") or "")]
                for e in report["events"]
            ],
        ))
    return blocks


def _history_blocks(h: dict) -> list[tuple]:
    head = h.get("head")
    text = (f"The journal holds {h['entries']} entries, hash-chained"
            + (f" up to seq {head['seq']} (hash {head['hash'][:16]})" if head else "")
            + (f"; its head is signed up to seq {h['signed']['seq']} (key {h['signed'].get('key')})" if h.get("signed") else "")
            + ".")
    blocks: list[tuple] = [("h", 2, "History (journal and aliases)")]
    if h["ok"]:
        blocks.append(("status", True, text + " Every entry follows the one before and every alias agrees with it."))
    else:
        blocks.append(("status", False, text + " Breaks:"))
        blocks.append(("list", h["problems"]))
    if h.get("notes"):
        blocks.append(("list", [f"note: {n}" for n in h["notes"]]))
    return blocks


def _who_of(entry: dict) -> str:
    run = entry["run"]
    return f"{run.get('user', '?')}@{run.get('host', '?')}"


def _event_what(e: dict) -> str:
    if e.get("event") == "alias":
        return f"{e.get('kind')}@{e.get('name')}: {e.get('from') or '-'} → {e.get('to')} ({e.get('ref')})"
    return f"{e.get('ref')} {e.get('id') or ''}".strip()


def _packages_blocks(arts: list[dict]) -> list[tuple]:
    names = sorted({p for a in arts for p in a["packages"]})
    if not names:
        return []
    blocks: list[tuple] = [("h", 2, "Code and package versions")]
    commits = sorted({(a["code"].get("git_sha"), a["code"].get("dirty")) for a in arts}, key=str)
    if len(commits) == 1:
        sha, dirty = commits[0]
        blocks.append(("p", f"Every artifact was built from git commit {sha or 'unknown'}"
                       + (" with uncommitted changes" if dirty else "") + "."))
    if all(a["packages"] == arts[0]["packages"] for a in arts):
        blocks.append(("table", ["package", "version (all artifacts)"], [[p, arts[0]["packages"].get(p, "—")] for p in names]))
    else:
        blocks.append((
            "table",
            ["package", *(a["ref"] for a in arts)],
            [[p, *(a["packages"].get(p, "—") for a in arts)] for p in names],
        ))
    return blocks


def _artifact_blocks(a: dict) -> list[tuple]:
    run = a["run"]
    code = a["code"]
    blocks: list[tuple] = [("h", 2, f"{a['ref']} ({a['id']})")]
    if a["verify"]["ok"]:
        blocks.append(("status", True, f"All {len(a['files'])} files and the manifest verify."))
    else:
        blocks.append(("status", False, "Changed since publish:"))
        blocks.append(("list", a["verify"]["problems"]))
    rows = [
        ("kind / version", f"{a['kind']} v{a['version']}"),
        ("aliases", ", ".join(a["aliases"]) or "none"),
        ("fingerprint", a["fingerprint"]),
        ("created (UTC)", a["created_at"]),
        ("duration", f"{show_value(a['duration_s'])} s"),
        ("ran as", _who_of(a)),
        ("git commit", f"{code.get('git_sha') or 'unknown'}" + (" (uncommitted changes)" if code.get("dirty") else "")),
        ("python", code.get("python") or "unknown"),
        ("path", a["path"]),
    ]
    rows += [(f"run.{k}", v) for k, v in run.items() if k not in ("user", "host")]
    blocks.append(("kv", rows))
    if a["inputs"]:
        blocks.append(("h", 3, "Inputs"))
        blocks.append(("table", ["input", "artifact", "id"], [[n, i["ref"] or "MISSING", i["id"]] for n, i in a["inputs"].items()]))
    if a["sources"]:
        blocks.append(("h", 3, f"Raw source files ({len(a['sources'])})"))
        blocks.append((
            "table", ["file", "bytes", "sha256"],
            [[p, _bytes((d or {}).get("bytes")), str((d or {}).get("sha256", ""))] for p, d in a["sources"].items()],
        ))
    blocks.append(("h", 3, "Resolved config"))
    blocks.append(("table", ["key", "value"], [[k, show_value(v)] for k, v in flatten(a["config"])] or [["(none)", ""]]))
    blocks.append(("h", 3, "Metrics"))
    blocks.append(("table", ["metric", "value"], [[k, show_value(v)] for k, v in flatten(a["metrics"])] or [["(none)", ""]]))
    blocks.append(("h", 3, f"Files ({len(a['files'])})"))
    changed = {p.split(":", 1)[0] for p in a["verify"]["problems"]}
    blocks.append((
        "table", ["file", "bytes", "sha256", "verifies"],
        [[p, _bytes(d.get("bytes")), str(d.get("sha256", "")), "NO" if p in changed else "yes"] for p, d in a["files"].items()],
    ))
    return blocks


def _md_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict, png_name: str = "lineage.png") -> str:
    out: list[str] = []
    for block in _document(report):
        tag = block[0]
        if tag == "h":
            out.append("#" * block[1] + " " + block[2])
        elif tag == "p":
            out.append(block[1])
        elif tag == "status":
            out.append(("**OK** — " if block[1] else "**FAIL** — ") + block[2])
        elif tag == "img":
            out.append(f"![lineage of {report['subject']['ref']}]({png_name})")
        elif tag == "list":
            out.append("\n".join(f"- `{item}`" for item in block[1]))
        elif tag == "kv":
            out.append("\n".join(f"- **{k}**: {_md_cell(v)}" for k, v in block[1]))
        elif tag == "table":
            headers, rows = block[1], block[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#212529}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #dee2e6;padding-bottom:.2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}td,th{border:1px solid #dee2e6;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f1f3f5}td{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.ok{background:#d4edda;border:1px solid #28a745;padding:.5em 1em;border-radius:4px}
.fail{background:#f8d7da;border:1px solid #dc3545;padding:.5em 1em;border-radius:4px;font-weight:bold}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
img{max-width:100%;border:1px solid #dee2e6}
"""


def render_html(report: dict, png: bytes | None) -> str:
    """One self-contained HTML file: inline CSS, the lineage PNG as a data: URI, no external links."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Audit of {e(report['subject']['ref'])} ({e(report['subject']['id'])})</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    for block in _document(report):
        tag = block[0]
        if tag == "h":
            out.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif tag == "p":
            out.append(f"<p>{e(block[1])}</p>")
        elif tag == "status":
            out.append(f'<p class="{"ok" if block[1] else "fail"}">{e(block[2])}</p>')
        elif tag == "img":
            if png:
                data = base64.b64encode(png).decode("ascii")
                out.append(f'<p><img alt="lineage of {e(report["subject"]["ref"])}" src="data:image/png;base64,{data}"></p>')
        elif tag == "list":
            out.append("<ul>" + "".join(f"<li><code>{e(str(i))}</code></li>" for i in block[1]) + "</ul>")
        elif tag == "kv":
            out.append("<dl>" + "".join(f"<dt>{e(str(k))}</dt><dd>{e(show_value(v))}</dd>" for k, v in block[1]) + "</dl>")
        elif tag == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


@dataclass
class AuditResult:
    report: dict
    directory: Path
    markdown: Path
    html: Path
    png: Path
    json: Path

    @property
    def ok(self) -> bool:
        return bool(self.report["ok"])


def write_report(store: Store, ref: str, out: Path | None = None, public_keys: list[bytes] | None = None) -> AuditResult:
    """Write report.md, lineage.png, report.html (self-contained) and audit.json; returns their paths."""
    report = collect(store, ref, public_keys)
    subj = report["subject"]
    directory = Path(out) if out is not None else Path("audit") / f"{subj['kind']}-v{store.get(subj['id']).version}-{subj['id']}"
    directory.mkdir(parents=True, exist_ok=True)
    png = lineage_png(report, directory / "lineage.png")
    md = directory / "report.md"
    md.write_text(render_markdown(report, png.name), encoding="utf-8")
    page = directory / "report.html"
    page.write_text(render_html(report, png.read_bytes()), encoding="utf-8")
    data = directory / "audit.json"
    data.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return AuditResult(report, directory, md, page, png, data)
