"""The lineage drawing of an audit report (`lineage.png`): the upstream graph left to right, each box green
when it verifies, red when it changed; an edge that would cross a box in between bends around it."""

from __future__ import annotations

from pathlib import Path

from ._facts import Edge, depths


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
    depth = depths(ids, edges)
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
