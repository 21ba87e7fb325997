"""PNG plots a person would rather look at than read."""

from __future__ import annotations

import json
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


def write_training_report(out: Path, history: list[dict], title: str) -> None:
    """history.json and loss.png beside a trained model, so the artifact explains itself."""
    (out / "history.json").write_text(json.dumps(history, indent=1))
    loss_curve(history, out / "loss.png", title)
