"""Figures of the evaluation report, as PNG files (matplotlib, training-time only).

Each function takes plain arrays and a path, draws one figure and closes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {"reference": "#222222", "teacher (reference)": "#222222", "model": "#d62728",
           "loudness jaw": "#1f77b4", "static template": "#7f7f7f"}


def training_curves(log_path: Path, out: Path) -> None:
    """log.jsonl of training.bundled -> stage 1 losses and stage 2 NLL over steps, train
    (thin) and held-out voices (dots)."""
    entries = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    panels = [("stage1", "reconstruction"), ("stage1", "cross_modality"), ("stage1", "eyelid"), ("stage2", "nll")]
    figure, axes = plt.subplots(1, len(panels), figsize=(16, 3.6))
    for axis, (stage, key) in zip(axes, panels):
        rows = [e for e in entries if e["stage"] == stage]
        axis.plot([e["step"] for e in rows], [e[key] for e in rows], lw=0.8, label="training")
        validated = [e for e in rows if f"val_{key}" in e]
        axis.plot([e["step"] for e in validated], [e[f"val_{key}"] for e in validated], "o-", ms=3,
                  label="held-out voices")
        axis.set_title(f"{stage}: {key}" + (" (nats)" if stage == "stage2" else " (mm²)"))
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend()
    _save(figure, out)


def blink_durations(durations: dict[str, list[float]], out: Path) -> None:
    """Blink durations (s) per source -> overlaid histograms."""
    figure, axis = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(0, 1.0, 26)
    for name, values in durations.items():
        if values:
            axis.hist(values, bins=bins, histtype="step", lw=1.5, color=COLOURS.get(name),
                      label=f"{name} ({len(values)})")
    axis.set_xlabel("blink duration (s)")
    axis.set_ylabel("blinks")
    axis.legend()
    axis.grid(alpha=0.3)
    _save(figure, out)


def seed_blinks(onsets: list[list[float]], duration: float, lip_error_mm: float, out: Path) -> None:
    """Blink onsets (s) for each seed of the upper-face resampling -> one row per seed."""
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(onsets) + 1.2))
    for row, times in enumerate(onsets):
        axis.plot(times, [row + 1] * len(times), "|", ms=14, mew=2, color=COLOURS["model"])
    axis.set_xlim(0, duration)
    axis.set_ylim(0.3, len(onsets) + 0.7)
    axis.set_yticks(range(1, len(onsets) + 1))
    axis.set_xlabel("time (s)")
    axis.set_ylabel("seed")
    axis.set_title(f"Blink onsets per seed, same lips (lip vertex error between seeds {lip_error_mm:.3f} mm)")
    axis.grid(axis="x", alpha=0.3)
    _save(figure, out)


def lip_gap(fps: float, curves: dict[str, np.ndarray], bilabials: list[tuple[float, float]], seal_mm: float,
            title: str, out: Path) -> None:
    """Inner-lip gap curves (mm per frame at ``fps``) with the p/b/m segments shaded."""
    figure, axis = plt.subplots(figsize=(12, 3.6))
    for start, end in bilabials:
        axis.axvspan(start, end, color="#f4d03f", alpha=0.4, lw=0)
    axis.axhline(seal_mm, color="#999999", ls="--", lw=1)
    for name, curve in curves.items():
        axis.plot(np.arange(len(curve)) / fps, curve, lw=1.4, color=COLOURS.get(name), label=name)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("inner-lip gap (mm)")
    axis.set_title(f"{title}  (shaded: p/b/m; dashed: seal {seal_mm} mm)")
    axis.legend(loc="upper right")
    axis.grid(alpha=0.3)
    _save(figure, out)


def _save(figure, out: Path) -> None:
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
