"""Measurements of talking-face animation, on vertices of the bundled head's topology.

All inputs are (T, V, 3) vertex sequences in metres at a known fps plus index sets from
``core.face`` semantics; lengths come back in millimetres. Definitions follow
../shared/docs/meshtalk-reference.md (lip vertex error, its squared variant, FDD) and the
targets of the training issue (seal on bilabials, closed mouth in silence, blinks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.lip_parting import inner_lip_gap_mm
from .speech import ipa

MM = 1000.0


def lip_vertex_error(predicted: np.ndarray, target: np.ndarray, lip: np.ndarray) -> float:
    """MeshTalk's definition, mm: per frame, centre the lip vertices on their mean (in
    both), take each lip vertex's L2 distance, take the max over them; mean over frames."""
    p = predicted[:, lip] - predicted[:, lip].mean(axis=1, keepdims=True)
    t = target[:, lip] - target[:, lip].mean(axis=1, keepdims=True)
    return float(np.linalg.norm(p - t, axis=-1).max(axis=1).mean() * MM)


def lip_vertex_error_squared(predicted: np.ndarray, target: np.ndarray, lip: np.ndarray) -> float:
    """The FaceFormer/CodeTalker variant, mm^2: max over lip vertices of the squared
    distance, no centring, mean over frames."""
    return float((np.square(predicted[:, lip] - target[:, lip]).sum(axis=-1).max(axis=1) * MM * MM).mean())


def upper_face_dynamics(vertices: np.ndarray, template: np.ndarray, upper: np.ndarray) -> float:
    """Mean over upper-face vertices of the std over time of the squared displacement
    from the template (CodeTalker's FDD ingredient), mm^2."""
    displacement = np.square(vertices[:, upper] - template[upper]).sum(axis=-1) * MM * MM
    return float(displacement.std(axis=0).mean())


def fdd(predicted: np.ndarray, target: np.ndarray, template: np.ndarray, upper: np.ndarray) -> float:
    """Upper-face dynamics deviation, mm^2: ground truth's dynamics minus the prediction's."""
    return upper_face_dynamics(target, template, upper) - upper_face_dynamics(predicted, template, upper)


def pair_gap(vertices: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(T,) mm: mean distance between paired vertices (e.g. upper and lower inner lip)."""
    return inner_lip_gap_mm(vertices, first, second)


def frames_in(start: float, end: float, fps: float, count: int) -> slice:
    return slice(max(0, int(np.ceil(start * fps - 1e-9))), min(count, int(np.floor(end * fps + 1e-9)) + 1))


def bilabial_seals(lip_gap: np.ndarray, fps: float, closures: list[tuple[float, float]],
                   threshold_mm: float = 1.5, slack: float = 0.03) -> tuple[int, int]:
    """(sealed, count) of bilabial closures (start_s, end_s): sealed when the inner lips
    come within ``threshold_mm`` at some frame (``slack`` seconds of timing tolerance).
    Counts, so that a report pools closures over utterances (the rate of all closures)."""
    sealed = sum(bool(lip_gap[frames_in(s - slack, e + slack, fps, len(lip_gap))].min(initial=np.inf) < threshold_mm)
                 for s, e in closures)
    return sealed, len(closures)


def closed_silent_frames(lip_gap: np.ndarray, fps: float, silences: list[tuple[float, float]],
                         threshold_mm: float = 1.5, margin: float = 0.15, minimum: float = 0.3) -> tuple[int, int]:
    """(closed, count) of the frames inside silences of at least ``minimum`` seconds
    (leaving ``margin`` at both ends for the mouth to close and open): how many have the
    lips within ``threshold_mm``."""
    frames = [lip_gap[frames_in(s + margin, e - margin, fps, len(lip_gap))]
              for s, e in silences if e - s >= minimum]
    frames = np.concatenate(frames) if frames else np.zeros(0)
    return int((frames < threshold_mm).sum()), len(frames)


def rate(counts: tuple[int, int]) -> float:
    """hits / count of a (hits, count) pair; nan when there is nothing to count."""
    hits, count = counts
    return hits / count if count else float("nan")


@dataclass
class BlinkStatistics:
    count: int
    per_minute: float
    durations: np.ndarray  # (count,) seconds with the lids below half open
    onsets: np.ndarray  # (count,) seconds


def blinks(eyelid_gap: np.ndarray, fps: float, closed_fraction: float = 0.5) -> BlinkStatistics:
    """Blinks in an eyelid-gap curve (T,): runs of frames where the gap is below
    ``closed_fraction`` of the open gap (the curve's 90th percentile)."""
    open_gap = np.percentile(eyelid_gap, 90)
    closed = eyelid_gap < closed_fraction * open_gap
    edges = np.diff(closed.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    minutes = len(eyelid_gap) / fps / 60
    return BlinkStatistics(len(starts), len(starts) / minutes if minutes > 0 else 0.0,
                           (ends - starts) / fps, starts / fps)


def bilabial_closures(phonemes: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """The (start_s, end_s) of a phoneme list's bilabials (p, b, m, ...): where the lips
    must meet. A symbol without an IPA letter (a synthesiser's "??") is none."""
    return [(s, e) for symbol, s, e in phonemes if ipa.is_known(symbol) and ipa.features(symbol).is_bilabial]


def silent_segments(phonemes: list[tuple[str, float, float]], silence: str = "sil") -> list[tuple[float, float]]:
    """The silent segments of a phoneme list [(symbol, start_s, end_s)]."""
    return [(s, e) for symbol, s, e in phonemes if symbol == silence]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def labiodentals(phonemes: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """The (start_s, end_s) of a phoneme list's f and v (and other labiodental fricatives):
    where the lower lip tucks to the upper teeth (before the head has teeth, to the upper
    lip's inner edge)."""
    return [(s, e) for symbol, s, e in phonemes
            if ipa.is_known(symbol) and ipa.features(symbol).place == "labiodental"
            and ipa.features(symbol).manner == "fricative"]


def speech_frames_away_from_bilabials(phonemes: list[tuple[str, float, float]], fps: float, count: int,
                                      silence: str = "sil", distance: float = 0.06) -> np.ndarray:
    """(count,) bool: frames inside a spoken (non-silent) phoneme and more than
    ``distance`` seconds from every bilabial: where sealed lips are a false closure."""
    times = np.arange(count) / fps
    speech = np.zeros(count, bool)
    for symbol, start, end in phonemes:
        if symbol != silence:
            speech |= (times >= start) & (times < end)
    for start, end in bilabial_closures(phonemes):
        speech &= ~((times > start - distance) & (times < end + distance))
    return speech


def largest_steps(lip_gap: np.ndarray) -> np.ndarray:
    """(T - 1,) mm: the size of each frame-to-frame change of an inner-lip-gap curve."""
    return np.abs(np.diff(lip_gap))


# A tuck: the lower inner lip lifted and behind the upper inner lip's edge, lips nearly
# meeting. Measured on the bundled head: the teacher's full tuck (mouthRollLower 0.6,
# mouthShrugLower 0.4) leaves a 2.1 mm gap with the lower lip 1.6 mm up and 1.9 mm
# behind the upper; an open jaw moves the lower lip back too (2.5 mm) but down (-6.9 mm),
# closed lips meet with the lower lip level with the upper. Since the tuck also lifts the
# upper lip (mouthUpperUp 0.7, core.lip_tuck) the full tuck's gap is 2.7 mm, with 2.0 mm
# of the upper teeth showing over the lower lip, which hides their edges by 5.8 mm.
TUCK_GAP_MM = 3.0
TUCK_LIFT_MM = 0.8
TUCK_BEHIND_MM = 1.0
TEETH_GAP_MM = 4.0  # the lips' gap over the teeth on a tucked lower lip, at most
TEETH_SHOW_MM = 1.0  # this much of the upper teeth shows between the lips, at least
MIDDLE_OF_MOUTH_MM = 8.0  # the lip pairs within this of the midline


def _lower_lip_tucked(vertices: np.ndarray, template: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(T,) bool: the lower inner lip lifted and behind the upper inner lip's edge."""
    lift = (vertices[:, lower, 2] - template[lower, 2]).mean(axis=1) * MM
    behind = (vertices[:, lower, 1] - vertices[:, upper, 1]).mean(axis=1) * MM
    return (lift > TUCK_LIFT_MM) & (behind > TUCK_BEHIND_MM)


def tucked_frames(vertices: np.ndarray, template: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(T,) bool: frames of (T, V, 3) vertices (model space: Z up, the face looks to -Y)
    whose lower lip is tucked to the upper lip's inner edge."""
    gap = pair_gap(vertices, upper, lower)
    return (gap < TUCK_GAP_MM) & _lower_lip_tucked(vertices, template, upper, lower)


def teeth_over_lip_frames(vertices: np.ndarray, template: np.ndarray, upper: np.ndarray,
                          lower: np.ndarray) -> np.ndarray:
    """(T,) bool: frames of (T, V, 3) vertices with the lower lip tucked and the upper teeth
    resting on it as seen from the front: in the middle of the mouth the lower lip's inner
    edge is above the upper incisors' edges (where ``core.face.mouth_parts`` puts them for
    the closed rest ``template``), and the upper lip's inner edge at least TEETH_SHOW_MM
    above it. The lip stays in front of the teeth: this head's lips are thick, and their
    inner edge is 8 mm in front of the incisors."""
    from ..core.face.mouth_parts import UPPER_EDGE_BELOW_LIP_LINE, lip_line_z

    middle = np.abs(template[upper, 0]) * MM < MIDDLE_OF_MOUTH_MM
    upper_mid, lower_mid = np.asarray(upper)[middle], np.asarray(lower)[middle]
    incisor_edge = lip_line_z(template, upper, lower) - UPPER_EDGE_BELOW_LIP_LINE
    lower_edge = vertices[:, lower_mid, 2].mean(axis=1)
    shows = (vertices[:, upper_mid, 2].mean(axis=1) - lower_edge) * MM
    gap = pair_gap(vertices, upper, lower)
    return ((gap < TEETH_GAP_MM) & _lower_lip_tucked(vertices, template, upper, lower)
            & (lower_edge > incisor_edge) & (shows > TEETH_SHOW_MM))


def tucked_labiodentals(tucked: np.ndarray, fps: float, segments: list[tuple[float, float]],
                        slack: float = 0.03) -> tuple[int, int]:
    """(tucked, count) of f/v segments with a tucked frame within ``slack`` seconds."""
    hits = sum(bool(tucked[frames_in(s - slack, e + slack, fps, len(tucked))].any()) for s, e in segments)
    return hits, len(segments)
