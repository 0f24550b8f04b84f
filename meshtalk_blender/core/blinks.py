"""Blinks that close: the model's blinks, each taken to a full closure.

The bundled model times its blinks well (about 3 frames closing, 4 opening, more at
phrase ends), but its decoder averages their peaks down to eyeBlink 0.4-0.8 in the
solved ARKit weights, so a sliver of iris always shows (issue 19). People's blinks
mostly close fully (../shared/docs/face-motion-facts.md). Here each blink found in the
eyeBlink curves is scaled above its own baseline so that its peak reaches 1, keeping
its timing and its shape, both eyes closing at its peak; a dip that peaks below
`HALF_BLINK`, or well below the take's other blinks, is left as the half blink it is.

Plain numpy on (T, K) weights, applied where the whole take's weights are known (the
add-on's worker and the command line's weight outputs).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

BLINK_NAMES = ("eyeBlinkLeft", "eyeBlinkRight")
HALF_BLINK = 0.35  # a blink whose peak is lower is a deliberate half blink: kept as it is ...
# ... or, in a take with MIN_BLINKS_TO_COMPARE blinks or more, one that peaks under
# HALF_BLINK_SHARE of their median peak, if that is lower: models whose decoder averages
# their blinks further down (a retrain on real speech peaked at 0.37 in the median, and
# 0.35 kept a third of its blinks half open) still close theirs, and a dip well under the
# take's other blinks stays the half blink it is (the teacher's are 0.45-0.9 of a blink).
HALF_BLINK_SHARE = 0.5
MIN_BLINKS_TO_COMPARE = 3
LOWEST_BLINK = 0.2  # no peak under this is a blink
MIN_PROMINENCE = 0.2  # above the lower of its two surrounding valleys
MAX_GAIN = 6.0  # the lowest blink, 0.2 over a baseline of 0.04, reaches 1 (after its baseline is taken out)
MAX_HALF_WIDTH = 0.4  # seconds from a peak to the valleys that bound its blink


def complete_blinks(weights: np.ndarray, names: Sequence[str], fps: float) -> np.ndarray:
    """(T, K) ARKit weights with columns `names` -> (T, K) float32, every blink closing
    fully. Weights without both eyeBlink columns come back unchanged."""
    weights = np.array(weights, dtype=np.float32)
    columns = [list(names).index(name) for name in BLINK_NAMES if name in names]
    if len(columns) != 2 or len(weights) < 3:
        return weights
    both = weights[:, columns].astype(np.float64)
    blink = both.mean(axis=1)
    reach = max(1, int(round(MAX_HALF_WIDTH * fps)))
    peaks = _blink_peak_frames(blink, reach)
    half_blink = HALF_BLINK
    if len(peaks) >= MIN_BLINKS_TO_COMPARE:
        half_blink = min(HALF_BLINK, HALF_BLINK_SHARE * float(np.median(blink[peaks])))
    for peak in peaks[blink[peaks] >= half_blink]:
        first, last = _valley(blink, peak, -1, reach), _valley(blink, peak, 1, reach)
        span = np.arange(first, last + 1)
        # The baseline runs straight from valley to valley, per eye; what rises above it
        # is the blink, scaled so that both eyes close at its peak (the one that closed
        # more reaches 1 first and holds there; on the way down and up they still differ).
        along = (span - first) / max(last - first, 1)
        baseline = both[first] + along[:, None] * (both[last] - both[first])
        rise = both[peak] - baseline[peak - first]
        if rise.min() <= 1e-6:
            continue
        gain = min(float(((1.0 - baseline[peak - first]) / rise).max()), MAX_GAIN)
        if gain <= 1.0:
            continue
        lifted = baseline + (both[span] - baseline) * gain
        both[span] = np.maximum(both[span], np.clip(lifted, 0.0, 1.0))  # overlapping blinks: the larger
    weights[:, columns] = both.astype(np.float32)
    return weights


def _valley(curve: np.ndarray, peak: int, step: int, reach: int) -> int:
    """Downhill from `peak` in direction `step` (+1 or -1) to where the curve starts
    rising again (a blink's own valley, not a neighbour's), at most `reach` frames."""
    index = peak
    while 0 <= index + step < len(curve) and abs(index + step - peak) <= reach and curve[index + step] <= curve[index]:
        index += step
    return index


def blink_peaks(weights: np.ndarray, names: Sequence[str], fps: float) -> np.ndarray:
    """The eyes' mean eyeBlink at each blink's peak (blinks as `complete_blinks` finds
    them, half blinks included): for measuring a take."""
    columns = [list(names).index(name) for name in BLINK_NAMES if name in names]
    if len(columns) != 2:
        return np.zeros(0)
    blink = np.asarray(weights, dtype=np.float64)[:, columns].mean(axis=1)
    return blink[_blink_peak_frames(blink, max(1, int(round(MAX_HALF_WIDTH * fps))))]


def _blink_peak_frames(blink: np.ndarray, reach: int) -> np.ndarray:
    """Frames of the (T,) mean eyeBlink curve where a blink, or a half blink, peaks."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(blink, height=LOWEST_BLINK, prominence=MIN_PROMINENCE, wlen=2 * reach + 1)
    return peaks
