"""PNG plots a person would rather look at than read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers
import matplotlib.pyplot as plt  # noqa: E402


def loss_curve(history: list[dict], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker="o", markersize=3, label="train loss")
    evals = [h for h in history if "eval_loss" in h]
    if evals:
        ax.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], marker="s", markersize=4, label="held-out loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no timestamps or versions: same run, same bytes
    plt.close(fig)
    return path


RUNG_COLORS = {"base": "#8c8c8c", "cpt": "#4c72b0", "sft": "#55a868"}


def rung_chart(metrics: dict, path: Path) -> Path | None:
    """One panel per perplexity set and for answer NLL, one bar per rung with its 95 % interval."""
    sets = sorted({m.group(1) for k in metrics if (m := re.fullmatch(r"(\w+)_ppl_(base|cpt|sft)", k))})
    panels = [(f"{name} perplexity", name + "_ppl") for name in sets] + [("answer NLL", "answer_nll")]
    panels = [(t, key, {r: metrics[f"{key}_{r}"] for r in RUNG_COLORS if metrics.get(f"{key}_{r}") is not None})
              for t, key in panels]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (title, key, values) in zip(axes[0], panels):
        lows = [values[r] - metrics.get(f"{key}_{r}_lo", values[r]) for r in values]
        highs = [metrics.get(f"{key}_{r}_hi", values[r]) - values[r] for r in values]
        bars = ax.bar(list(values), list(values.values()), yerr=[lows, highs], capsize=4,
                      color=[RUNG_COLORS[r] for r in values])
        ax.bar_label(bars, fmt="%.3g", fontsize=8, label_type="center")
        ax.set_title(title + "\n(lower is better)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def write_training_report(out: Path, history: list[dict], title: str) -> None:
    """history.json and loss.png beside a trained model, so the artifact explains itself."""
    (out / "history.json").write_text(json.dumps(history, indent=1))
    loss_curve(history, out / "loss.png", title)
