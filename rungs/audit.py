"""Audit reports and artifact diffs: `rungs audit REF` and `rungs diff REF REF`.

An audit report answers an auditor's questions about one artifact without access to the machine:
every upstream artifact down to the raw files, with the sha256 of each file, the resolved config,
the code (git commit, package versions), the metrics, who ran it and when, which aliases point at it
and whether every file still hashes to what was recorded at publish. It is written as Markdown (with
``lineage.png`` beside it), as one self-contained HTML file (the PNG embedded) and as ``audit.json``.

Both renderings come from one document model (a list of blocks), so they never disagree.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import provenance
from .errors import RungsError
from .store import Artifact, Store

# --------------------------------------------------------------------------------------------------
# collecting the facts


@dataclass(frozen=True)
class Edge:
    """``consumer`` was built with ``producer`` as its input ``name``."""

    producer: str
    consumer: str
    name: str


def lineage_graph(store: Store, ref: str) -> tuple[Artifact, list[Artifact], list[str], list[Edge]]:
    """(subject, upstream artifacts roots-first, ids of inputs missing from the store, edges)."""
    tree = store.upstream(ref)
    subject: Artifact = tree["artifact"]
    found: dict[str, Artifact] = {}
    missing: list[str] = []
    edges: set[Edge] = set()

    def walk(node: dict) -> None:
        art = node["artifact"]
        found[art.id] = art
        for name, child in node["inputs"].items():
            cid = child["artifact"].id if child["artifact"] is not None else child["id"]
            edges.add(Edge(cid, art.id, name))
            if child["artifact"] is None:
                if cid not in missing:
                    missing.append(cid)
            else:
                walk(child)

    walk(tree)
    depth = _depths(list(found), edges)
    ordered = sorted(found.values(), key=lambda a: (depth[a.id], a.kind, a.version, a.id))
    return subject, ordered, missing, sorted(edges, key=lambda e: (e.consumer, e.name))


def _depths(ids: list[str], edges: set[Edge] | list[Edge]) -> dict[str, int]:
    """Longest path from a root (an artifact without inputs in the graph): the column in the drawing."""
    inputs: dict[str, list[str]] = {}
    for e in edges:
        inputs.setdefault(e.consumer, []).append(e.producer)
    memo: dict[str, int] = {}

    def depth(i: str) -> int:
        if i not in memo:
            memo[i] = 1 + max((depth(p) for p in inputs.get(i, [])), default=-1)
        return memo[i]

    return {i: depth(i) for i in ids}



def collect(store: Store, ref: str) -> dict:
    """Every fact the report shows, as plain JSON data (also written as audit.json)."""
    subject, arts, missing, edges = lineage_graph(store, ref)
    aliases: dict[str, list[str]] = {}
    for kind, name, target in store.aliases():
        aliases.setdefault(target, []).append(f"{kind}@{name}")
    ids = {a.id for a in arts} | set(missing)
    refs = {a.id: a.ref for a in arts}
    entries = []
    for art in arts:
        m = art.manifest
        code = dict(m.get("code") or {})
        problems = store.verify(art.id)
        entries.append(
            {
                "ref": art.ref,
                "id": art.id,
                "kind": art.kind,
                "version": art.version,
                "aliases": sorted(aliases.get(art.id, [])),
                "fingerprint": art.fingerprint,
                "created_at": art.created_at,
                "duration_s": m.get("duration_s"),
                "path": str(art.path),
                "inputs": {name: {"id": iid, "ref": refs.get(iid)} for name, iid in sorted(art.inputs.items())},
                "sources": m.get("sources") or {},
                "files": art.files,
                "config": art.config,
                "metrics": art.metrics,
                "code": {k: v for k, v in code.items() if k != "packages"},
                "packages": code.get("packages") or {},
                "run": m.get("run") or {},
                "verify": {"ok": not problems, "problems": problems},
            }
        )
    events = [
        e for e in store.events()
        if e.get("id") in ids or e.get("to") in ids or e.get("from") in ids
    ]
    info = provenance.run_info()
    failed = [e["ref"] for e in entries if not e["verify"]["ok"]]
    return {
        "subject": {"ref": subject.ref, "id": subject.id, "kind": subject.kind},
        "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generated_by": f"{info['user']}@{info['host']}",
        "store": str(store.root),
        "ok": not failed and not missing,
        "failed": failed,
        "missing": missing,
        "artifacts": entries,
        "edges": [{"producer": e.producer, "consumer": e.consumer, "input": e.name} for e in edges],
        "events": events,
    }


# --------------------------------------------------------------------------------------------------
# the lineage drawing


_BOX_W, _BOX_H, _COL, _ROW = 1.9, 0.8, 2.8, 1.25


def _curve(p0: tuple[float, float], p3: tuple[float, float], reach: float, lift: float, n: int = 160):
    """A cubic that leaves p0 and enters p3 horizontally-ish; ``lift`` raises (or lowers) its middle."""
    (x0, y0), (x3, y3) = p0, p3
    c1, c2 = (x0 + reach * (x3 - x0), y0 + lift), (x3 - reach * (x3 - x0), y3 + lift)
    pts = []
    for k in range(n + 1):
        t = k / n
        u = 1 - t
        pts.append((
            u**3 * x0 + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t**3 * x3,
            u**3 * y0 + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t**3 * y3,
        ))
    return pts, c1, c2


def _route(p0, p3, obstacles: list[tuple[float, float]]):
    """The flattest curve from p0 to p3 that misses every box in ``obstacles`` (the least crossing one otherwise)."""
    best = None
    for lift in (0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 2.6, -2.6, 3.2, -3.2):
        for reach in (0.5, 0.3, 0.7, 0.15):
            pts, c1, c2 = _curve(p0, p3, reach, lift)
            crossing = sum(
                1 for x, y in pts[1:-1] for ox, oy in obstacles
                if abs(x - ox) < _BOX_W / 2 + 0.1 and abs(y - oy) < _BOX_H / 2 + 0.1
            )
            if crossing == 0:
                return pts, c1, c2
            if best is None or crossing < best[0]:
                best = (crossing, pts, c1, c2)
    return best[1:]


def lineage_png(report: dict, path: Path) -> Path:
    """A left-to-right drawing of the upstream graph; each box is green (verifies) or red (changed).

    Columns are lineage depth; an edge that would cross a box in between bends around it.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    arts = {a["id"]: a for a in report["artifacts"]}
    ids = list(arts) + list(report["missing"])
    edges = [Edge(e["producer"], e["consumer"], e["input"]) for e in report["edges"]]
    depth = _depths(ids, edges)
    columns: dict[int, list[str]] = {}
    for i in ids:
        columns.setdefault(depth[i], []).append(i)
    pos: dict[str, tuple[float, float]] = {}
    for col, members in sorted(columns.items()):
        members.sort(key=lambda i: (arts[i]["kind"], arts[i]["version"]) if i in arts else ("~", 0))
        for row, i in enumerate(members):
            pos[i] = (col * _COL, (len(members) - 1) / 2 * _ROW - row * _ROW)

    curves = []
    for e in edges:
        (x0, y0), (x1, y1) = pos[e.producer], pos[e.consumer]
        p0, p2 = (x0 + _BOX_W / 2, y0), (x1 - _BOX_W / 2, y1)
        obstacles = [pos[i] for i in ids if i not in (e.producer, e.consumer) and x0 < pos[i][0] < x1]
        curves.append((e, *_route(p0, p2, obstacles)))
    xs = [x for x, _ in pos.values()] + [x for _, pts, _, _ in curves for x, _ in pts]
    ys = [y for _, y in pos.values()] + [y for _, pts, _, _ in curves for _, y in pts]
    x_lo, x_hi = min(xs) - _BOX_W / 2 - 0.2, max(xs) + _BOX_W / 2 + 0.2
    y_lo, y_hi = min(ys) - _BOX_H / 2 - 0.25, max(ys) + _BOX_H / 2 + 0.25
    fig, ax = plt.subplots(figsize=(max(4.0, (x_hi - x_lo) * 1.05), max(2.2, (y_hi - y_lo) * 1.1 + 0.4)), dpi=110)

    for e, pts, c1, c2 in curves:
        curve = MplPath([pts[0], c1, c2, pts[-1]], [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4])
        ax.add_patch(FancyArrowPatch(path=curve, arrowstyle="-|>", mutation_scale=11, color="#555555", lw=1.1, zorder=1))
        lx, ly = pts[len(pts) // 3]  # a third of the way: labels of edges into one box do not pile up
        ax.text(lx, ly, e.name, fontsize=7, color="#333333", ha="center", va="center", zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    for i, (x, y) in pos.items():
        art = arts.get(i)
        if art is None:
            face, edge, text = "#e2e3e5", "#6c757d", f"missing\n{i}"
        elif art["verify"]["ok"]:
            face, edge, text = "#d4edda", "#28a745", f"{art['ref']}\n{i}\nverifies"
        else:
            face, edge, text = "#f8d7da", "#dc3545", f"{art['ref']}\n{i}\nCHANGED"
        subject = i == report["subject"]["id"]
        ax.add_patch(FancyBboxPatch((x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H, boxstyle="round,pad=0.05",
                                    fc=face, ec=edge, lw=2.4 if subject else 1.2, zorder=2))
        ax.text(x, y, text, ha="center", va="center", fontsize=8, family="monospace", zorder=3,
                fontweight="bold" if subject else "normal")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_title(f"lineage of {report['subject']['ref']} ({report['subject']['id']})", fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no timestamps or versions: same graph, same bytes
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------
# one document model, two renderings


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, leaf) pairs; lists stay leaves."""
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data)] if prefix else []


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return _show(n)
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


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
        blocks.append(("status", False, "VERIFICATION FAILED — " + "; ".join(parts) + "."))
    blocks.append(("h", 2, "Lineage"))
    blocks.append(("img",))
    blocks.append(("h", 2, "Artifacts"))
    blocks.append((
        "table",
        ["artifact", "id", "created (UTC)", "by", "duration", "files", "verifies", "aliases"],
        [
            [a["ref"], a["id"], a["created_at"], _who_of(a), f"{_show(a['duration_s'])} s", str(len(a["files"])),
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
        ("duration", f"{_show(a['duration_s'])} s"),
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
    blocks.append(("table", ["key", "value"], [[k, _show(v)] for k, v in _flatten(a["config"])] or [["(none)", ""]]))
    blocks.append(("h", 3, "Metrics"))
    blocks.append(("table", ["metric", "value"], [[k, _show(v)] for k, v in _flatten(a["metrics"])] or [["(none)", ""]]))
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
            out.append("<dl>" + "".join(f"<dt>{e(str(k))}</dt><dd>{e(_show(v))}</dd>" for k, v in block[1]) + "</dl>")
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


def write_report(store: Store, ref: str, out: Path | None = None) -> AuditResult:
    """Write report.md, lineage.png, report.html (self-contained) and audit.json; returns their paths."""
    report = collect(store, ref)
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


# --------------------------------------------------------------------------------------------------
# diff


def diff(store: Store, ref_a: str, ref_b: str, *, show_all: bool = False) -> dict:
    """Config, metric, input and code differences between two artifacts (only differing keys unless show_all)."""
    a, b = store.resolve(ref_a), store.resolve(ref_b)

    def inputs(art: Artifact) -> dict:
        out = {}
        for name, iid in art.inputs.items():
            try:
                out[name] = f"{store.get(iid).ref} ({iid})"
            except RungsError:
                out[name] = f"missing ({iid})"
        return out

    def code(art: Artifact) -> dict:
        c = dict(art.manifest.get("code") or {})
        packages = c.pop("packages", {}) or {}
        return {**c, **{f"packages.{k}": v for k, v in packages.items()}}

    sections = {}
    for name, left, right in (
        ("config", dict(_flatten(a.config)), dict(_flatten(b.config))),
        ("metrics", dict(_flatten(a.metrics)), dict(_flatten(b.metrics))),
        ("inputs", inputs(a), inputs(b)),
        ("code", code(a), code(b)),
    ):
        rows = []
        same = 0
        for key in sorted(set(left) | set(right)):
            va, vb = left.get(key), right.get(key)
            if va == vb:
                same += 1
                if not show_all:
                    continue
            row = {"key": key, "a": va, "b": vb}
            if name == "metrics" and _number(va) and _number(vb):
                row["delta"] = vb - va
            rows.append(row)
        sections[name] = {"rows": rows, "same": same, "different": sum(r["a"] != r["b"] for r in rows)}
    return {
        "a": {"ref": a.ref, "id": a.id, "kind": a.kind, "created_at": a.created_at},
        "b": {"ref": b.ref, "id": b.id, "kind": b.kind, "created_at": b.created_at},
        **sections,
    }


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --------------------------------------------------------------------------------------------------
# CLI


def cmd_audit(args: argparse.Namespace) -> int:
    from .cli import _print_json

    result = write_report(Store(args.store), args.ref, Path(args.out) if args.out else None)
    report = result.report
    if args.json:
        _print_json({
            "ok": result.ok, "subject": report["subject"], "failed": report["failed"], "missing": report["missing"],
            "artifacts": [a["ref"] for a in report["artifacts"]],
            "files": {"markdown": str(result.markdown), "html": str(result.html), "png": str(result.png), "json": str(result.json)},
        })
    else:
        subj = report["subject"]
        n = len(report["artifacts"])
        print(f"audit of {subj['ref']} ({subj['id']}): {n} artifact(s) in its lineage")
        for a in report["artifacts"]:
            mark = "OK  " if a["verify"]["ok"] else "FAIL"
            print(f"  {mark} {a['ref']:<14} {a['id']}  {a['created_at']}  {_who_of(a)}")
            for problem in a["verify"]["problems"]:
                print(f"         {problem}")
        for iid in report["missing"]:
            print(f"  MISSING input {iid}")
        print(f"wrote {result.markdown}\n      {result.html} (self-contained)\n      {result.png}\n      {result.json}")
    if not result.ok:
        print(f"audit: verification failed for {', '.join(report['failed'] + report['missing'])}", file=sys.stderr)
    return 0 if result.ok else 1


def add_audit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="write an audit report of an artifact and everything upstream of it",
        description=(
            "Write a self-contained audit report of REF: every upstream artifact down to the raw files, with "
            "the sha256 of every file, resolved configs, code version (git commit), package versions, metrics, "
            "who ran each stage and when, the aliases and the event log, and whether every file still verifies. "
            "Writes report.md + lineage.png, report.html (PNG embedded; one file to send) and audit.json. "
            "Exits 1 when any file changed since publish or an input is missing."
        ),
        epilog="examples:\n  rungs audit sft@production\n  rungs audit evaluate --out /tmp/audit-eval",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref", metavar="REF", help="id, id prefix, KIND:vN, KIND@ALIAS or KIND")
    p.add_argument("--out", metavar="DIR", default=None, help="report directory (default: ./audit/KIND-vN-ID/)")
    p.add_argument("--json", action="store_true", help="print {ok, subject, failed, missing, artifacts, files} as JSON")
    p.set_defaults(func=cmd_audit)


def cmd_diff(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .cli import _console, _print_json

    d = diff(Store(args.store), args.ref_a, args.ref_b, show_all=args.all)
    if args.json:
        _print_json(d)
        return 0
    console = _console()
    a, b = d["a"], d["b"]
    console.print(f"[bold]A[/bold] = {escape(a['ref'])} {a['id']}  ({escape(a['created_at'])})")
    console.print(f"[bold]B[/bold] = {escape(b['ref'])} {b['id']}  ({escape(b['created_at'])})")
    for name in ("config", "metrics", "inputs", "code"):
        section = d[name]
        if not section["rows"]:
            console.print(f"[bold]{name}[/bold]: identical ({section['same']} keys)")
            continue
        table = Table(title=f"{name}: {section['different']} differ, {section['same']} identical", title_justify="left")
        table.add_column("key", style="bold", overflow="fold")
        table.add_column(f"A {escape(a['ref'])}", overflow="fold")
        table.add_column(f"B {escape(b['ref'])}", overflow="fold")
        if name == "metrics":
            table.add_column("B − A", justify="right")
        for row in section["rows"]:
            cells = [escape(row["key"]), escape(_show(row["a"])), escape(_show(row["b"]))]
            if name == "metrics":
                cells.append(f"{row['delta']:+.4g}" if "delta" in row else "")
            table.add_row(*cells)
        console.print(table)
    return 0


def add_diff_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two artifacts: config, metrics, inputs, code",
        description=(
            "Show how two artifacts differ: resolved config keys, metrics (with B − A for numbers), inputs and "
            "code (git commit, package versions). Only differing keys are listed unless --all."
        ),
        epilog="examples:\n  rungs diff sft:v1 sft:v2\n  rungs diff evaluate@production evaluate --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref_a", metavar="REF", help="A: id, id prefix, KIND:vN, KIND@ALIAS or KIND")
    p.add_argument("ref_b", metavar="REF", help="B: the artifact to compare with A")
    p.add_argument("--all", action="store_true", help="list identical keys too")
    p.add_argument("--json", action="store_true", help="print {a, b, config, metrics, inputs, code} as JSON")
    p.set_defaults(func=cmd_diff)


# --------------------------------------------------------------------------------------------------
# CLI: export-lineage (here, so `rungs --help` does not import the OpenLineage client)


def cmd_export_lineage(args: argparse.Namespace) -> int:
    import os

    import requests

    from .lineage_export import post, run_events, to_json

    store = Store(args.store)
    events = run_events(store, args.refs, upstream=not args.no_upstream, namespace=args.namespace, job_namespace=args.job_namespace)
    lines = [to_json(e) for e in events]
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {len(lines)} OpenLineage run event(s) to {out}", file=sys.stderr)
    if args.url:
        try:
            sent = post(events, args.url, endpoint=args.endpoint, api_key=os.environ.get("OPENLINEAGE_API_KEY"))
        except (requests.RequestException, OSError) as exc:  # say where it failed, not a traceback
            raise RungsError(f"sending OpenLineage events to {args.url}: {exc}") from None
        print(f"sent {sent} OpenLineage run event(s) to {args.url.rstrip('/')}/{args.endpoint}", file=sys.stderr)
    if not args.output and not args.url:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    return 0


def add_export_lineage_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-lineage",
        help="export lineage as OpenLineage run events (for Marquez and other catalogs)",
        description=(
            "Emit one OpenLineage COMPLETE RunEvent per artifact: job = the stage, inputs = its input artifacts and "
            "raw source files (with sha256), output = the artifact (version = its id; facets with every file's "
            "sha256, the resolved config, metrics, code version and who ran it). With REFs, those artifacts and "
            "everything upstream of them (unless --no-upstream); without, every artifact. Prints JSON lines, or "
            "writes them to --output, or POSTs them to an OpenLineage endpoint with --url (Marquez)."
        ),
        epilog=(
            "examples:\n  rungs export-lineage sft@production > lineage.jsonl\n"
            "  rungs export-lineage --output lineage.jsonl\n"
            "  rungs export-lineage evaluate --url http://localhost:5000     # Marquez's API"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="*", metavar="REF", help="artifacts to export (default: all)")
    p.add_argument("--format", choices=["openlineage"], default="openlineage", help="event format (only openlineage)")
    p.add_argument("--no-upstream", action="store_true", help="only the REFs themselves, not what they were built from")
    p.add_argument("--output", "-o", metavar="FILE", default=None, help="write JSON lines to FILE instead of stdout")
    p.add_argument("--url", metavar="URL", default=None, help="POST each event to this OpenLineage server (e.g. http://localhost:5000); "
                   "an API key is read from $OPENLINEAGE_API_KEY")
    p.add_argument("--endpoint", default="api/v1/lineage", help="path of the lineage endpoint under --url (default: api/v1/lineage)")
    p.add_argument("--namespace", default=None, metavar="NS", help="dataset namespace of artifacts (default: file://<this host>)")
    p.add_argument("--job-namespace", default="rungs", metavar="NS", help="job namespace (default: rungs)")
    p.set_defaults(func=cmd_export_lineage)
