"""Lips apart in speech: they meet only where a lip contact is heard, or in a pause.

In speech the lips meet only for p, b and m (and come near for f and v); for every
other sound they stay a few millimetres apart, even where the jaw is nearly closed (s,
t, n: teeth together, lips parted). The teacher's inner lips are at least 2.0 mm apart
on 95 % of the real-speech report's clean speech frames more than 60 ms from any p/b/m.
The model's own mouth closes on many more of them: with the seal its lips were within
1.5 mm on 15.5 % of those frames of English clean speech (the teacher 2.6 %), 11.4 %
without the seal, most where the p/b/m detector heard nothing at all (p < 0.05).
Sealed lips where none should meet read as mumbling.

So where the audio sounds (QUIET_DB, SOUNDING_DB, NOISE_MARGIN_DB) and the lip-closure
detector hears no p/b/m near (its probability under PART_UNTIL, spread over the seal's
approach and release), the jaw opens the mouth (the MeshTalk head's jawOpen key, which
carries the lower teeth) just as far as its inner lips are PART_MIN_MM apart, and no
further: a mouth already open is left as it is. The opening follows the model's own
gap, so it is as smooth as that gap. Models of another topology have no rig, and
nothing opens.

Measured on the report's English clean clips (/work/probe/s32/sweep.py; with the mouth's
light smoothing, pipeline.MOUTH_SMOOTHING_SIGMA): false closures 13.5 -> 9.2 %, r of the
gap 0.678 -> 0.680, p/b/m sealed 91.7 -> 90.9 %; 9.6 % with the deeper f/v tuck since
(core.lip_tuck): the seal's own false alarms (3.9 % of those frames), quiet frames inside
speech (3.1 %), frames where the detector half hears a p/b/m (2.1 %; /work/probe/s32/
decompose.py). Without the
level gate the floor also held the mouth open in short silences the pauses do not find
(r 0.651 instead of 0.673, before the smoothing). In noise the gate follows the noise
floor: on the outdoor copies (5-15 dB SNR) a gate on the speech level alone cost r 0.650
-> 0.608; NOISE_MARGIN_DB 3 keeps 0.644 while false closures fall 22.9 -> 19.4 %.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .model.lip_closure import closure_envelope
from .pauses import speech_and_floor_db

# The inner lips' least mean gap (mm) in speech where no contact is heard.
PART_MIN_MM = 2.0
# Closure probabilities -> how much a p/b/m may be there (0: none, the floor is whole;
# 1 from PART_UNTIL: the floor is gone), before the seal's approach and release.
PART_FROM = 0.02
PART_UNTIL = 0.1
PASSES = 2  # the jaw's opening is near linear in the gap; a second pass takes up the rest
# Frame levels (dB against the clip's speech level, core.pauses.speech_and_floor_db):
# under QUIET_DB no floor, over SOUNDING_DB the whole floor. Silence inside speech (a
# breath, a trailing sil shorter or louder than core.pauses' pauses) lets the model close
# the lips as it drew them.
QUIET_DB = -30.0
SOUNDING_DB = -20.0
# ... and never quiet less than this over the clip's noise floor (the same function's):
# in noise the pauses are as loud as the noise, and the ramp moves up with it.
NOISE_MARGIN_DB = 3.0


def quiet_weights(levels_db: np.ndarray) -> np.ndarray:
    """(T,) frame levels (dB, core.pauses.frame_levels_db) -> (T,) weights in [0, 1] of how
    quiet each frame is (1: no floor), eased over the seal's approach and release so that
    the floor never switches on or off within one frame."""
    if len(levels_db) == 0:
        return np.zeros(0, np.float32)
    speech, noise = speech_and_floor_db(levels_db)
    quiet_below = max(speech + QUIET_DB, noise + NOISE_MARGIN_DB)
    sounding_above = quiet_below + (SOUNDING_DB - QUIET_DB)
    quiet = np.clip((sounding_above - levels_db) / (sounding_above - quiet_below), 0.0, 1.0).astype(np.float32)
    return closure_envelope(quiet, 0, len(quiet))


def inner_lip_gap_mm(frames: np.ndarray, upper_lip: np.ndarray, lower_lip: np.ndarray) -> np.ndarray:
    """(n,) mean distance (mm) of the (P,) inner-lip vertex pairs of (n, V, 3) frames in metres."""
    return apart_mm(frames[:, upper_lip] - frames[:, lower_lip])


def apart_mm(apart: np.ndarray) -> np.ndarray:
    """(n,) mean length (mm) of (n, P, 3) upper-minus-lower lip vectors in metres."""
    return np.linalg.norm(apart, axis=-1).mean(axis=1) * 1000.0


def closure_allowance(probabilities: np.ndarray) -> np.ndarray:
    """(T,) closure probabilities -> (T,) weights in [0, 1] of how far a p/b/m may be heard
    on each frame (``closure_envelope`` then spreads them over approach and release)."""
    return np.clip((probabilities - PART_FROM) / (PART_UNTIL - PART_FROM), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class PartingRig:
    opening: np.ndarray  # (V, 3) the jaw's opening (jawOpen's offsets) per unit of its weight
    gap_per_unit_mm: float  # how far the inner lips part per unit of it, from the closed rest
    upper_lip: np.ndarray  # (P,) inner-lip vertex pairs, upper and lower
    lower_lip: np.ndarray

    def gap_mm(self, frames: np.ndarray) -> np.ndarray:
        return inner_lip_gap_mm(frames, self.upper_lip, self.lower_lip)

    def part(self, frames: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(n, V, 3) frames opened by the jaw where their lips are under PART_MIN_MM apart,
        by (n,) weights in [0, 1] of the floor (0: leave the frame as it is)."""
        if not weights.any():
            return frames
        gap = self.gap_mm(frames)
        return self._opened_to(frames, gap, gap + weights * np.maximum(PART_MIN_MM - gap, 0.0), only_open=True)

    def follow(self, frames: np.ndarray, heard_mm: np.ndarray, opening: float, closing: float,
               may_close: np.ndarray | None = None) -> np.ndarray:
        """(n, V, 3) frames whose jaw takes a share of the way from their inner-lip gap to
        the (n,) ``heard_mm`` (core.lip_gap): ``opening`` where that is wider, ``closing``
        where it is narrower, closing no further than PART_MIN_MM (or the frame's own gap,
        if smaller): the lips meet only where the lip contacts and the pauses close them.
        Where (n,) ``may_close`` (0-1: the lip seal's weights) is 1 it does not open the mouth."""
        if max(opening, closing) <= 0.0 or not len(frames):
            return frames
        gap = self.gap_mm(frames)
        difference = heard_mm - gap
        change = np.where(difference > 0.0, opening, closing) * difference
        if may_close is not None:
            change = np.where(change > 0.0, change * (1.0 - may_close), change)
        target = np.maximum(gap + change, np.minimum(gap, PART_MIN_MM))
        return self._opened_to(frames, gap, target, only_open=False)

    def _opened_to(self, frames: np.ndarray, gap: np.ndarray, target: np.ndarray, only_open: bool) -> np.ndarray:
        """``frames`` (of inner-lip ``gap``) moved along the jaw's opening to the (n,) ``target`` gaps.
        The passes move only the lips' vertices; the whole face moves once, at the end."""
        apart = frames[:, self.upper_lip].astype(np.float64) - frames[:, self.lower_lip]
        opening_apart = self.opening[self.upper_lip] - self.opening[self.lower_lip]
        units = np.zeros(len(frames))  # the jaw's opening added to each frame, in units of it
        moving = np.ones(len(frames), bool)  # later passes refine only the frames the first one moved
        for _ in range(PASSES):
            short_mm = target - gap
            if only_open:
                short_mm = np.maximum(short_mm, 0.0)
            short_mm = np.where(moving, short_mm, 0.0)
            if not short_mm.any():
                break
            moving = short_mm != 0.0
            units += short_mm / self.gap_per_unit_mm
            gap = apart_mm(apart + units[:, None, None] * opening_apart)
        if not units.any():
            return frames
        return (frames + units[:, None, None] * self.opening[None]).astype(frames.dtype, copy=False)


@functools.lru_cache(maxsize=2)
def parting_rig(num_vertices: int) -> PartingRig | None:
    """The parting for models of the MeshTalk head's topology; None for any other."""
    from .face import ARKIT_INDEX, arkit_deltas, load_bundled_head

    head = load_bundled_head()
    if head.vertex_count != num_vertices:
        return None
    opening = arkit_deltas(head)[ARKIT_INDEX["jawOpen"]].astype(np.float32)
    opening.setflags(write=False)
    sets = head.index_sets
    upper, lower = np.asarray(sets["upper_inner_lip"]), np.asarray(sets["lower_inner_lip"])
    rest = head.vertices.astype(np.float32)[None]
    unit = 0.1  # measured over a small opening, where speech needs it (jawOpen 0.1: 2.5 mm)
    opened = inner_lip_gap_mm(rest + unit * opening[None], upper, lower) - inner_lip_gap_mm(rest, upper, lower)
    return PartingRig(opening, float(opened[0] / unit), upper, lower)
