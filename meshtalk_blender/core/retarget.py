"""From the model's vertices to a user's character: transforms, blendshape solve, basis.

Three pieces, all plain numpy (the Blender layer only reads and writes arrays):

- ``fit_similarity``: the scale, rotation and translation that best map one point set
  onto another (Umeyama 1991). A mesh with the model's topology can sit anywhere, at any
  size and in any axis convention; the transform takes it to model space and back.
- ``match_arkit_keys`` and ``BlendshapeSolver``: a character rigged with ARKit-named
  shape keys is animated by solving, per frame, for the key weights in [0, 1] that best
  reproduce the model's displacement (bounded least squares with the L1-like, ridge,
  temporal and symmetry terms of NVIDIA Audio2Face, see ../shared/docs/face-motion-facts.md).
- ``compact_basis``: a few shape keys plus keyframed weights that reproduce an animation
  (a truncated SVD of its displacements), so the result stays editable in Blender.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import MeshTalkError

# numba, torch and the face package are imported on first use, not with this module: the
# Blender add-on imports it when it registers, and Blender's start must stay fast.

# ---------------------------------------------------------------- similarity transforms


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation."""

    scale: float
    rotation: np.ndarray  # (3, 3) proper rotation
    translation: np.ndarray  # (3,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points -> (..., 3) float32."""
        points = np.asarray(points, dtype=np.float64)
        return (self.scale * points @ self.rotation.T + self.translation).astype(np.float32)

    def apply_to_offsets(self, offsets: np.ndarray) -> np.ndarray:
        """(..., 3) displacements (no translation) -> (..., 3) float32."""
        return (self.scale * np.asarray(offsets, dtype=np.float64) @ self.rotation.T).astype(np.float32)

    def inverse(self) -> "Similarity":
        rotation = self.rotation.T
        return Similarity(1.0 / self.scale, rotation, -(rotation @ self.translation) / self.scale)


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity minimising sum |T(source_i) - target_i|^2 over (N, 3) point pairs.

    Reflections are excluded (a mirrored mesh is a different mesh, not a pose)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3 or len(source) < 3:
        raise ValueError(f"need two (N >= 3, 3) point sets of one shape, got {source.shape} and {target.shape}")
    source_centre, target_centre = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_centre, target - target_centre
    source_variance = float((source_centred**2).sum() / len(source))
    if source_variance <= 1e-20:
        raise MeshTalkError("The mesh has collapsed to a point (all vertices at one place); it cannot be aligned.")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / source_variance)
    translation = target_centre - scale * rotation @ source_centre
    return Similarity(scale, rotation, translation)


def alignment_error(transform: Similarity, source: np.ndarray, target: np.ndarray) -> float:
    """RMS distance after alignment, relative to the target's RMS radius (0 = identical
    up to the transform; a scrambled vertex order gives about 1.4)."""
    target = np.asarray(target, dtype=np.float64)
    residual = transform.apply(source) - target
    radius = np.sqrt(((target - target.mean(axis=0)) ** 2).sum(axis=1).mean())
    return float(np.sqrt((residual**2).sum(axis=1).mean()) / max(radius, 1e-12))


# ---------------------------------------------------------------- ARKit key names

_SIDE_SUFFIXES = ((re.compile(r"[._\- ](l|left)$"), "left"), (re.compile(r"[._\- ](r|right)$"), "right"))


@functools.lru_cache(maxsize=1)
def _arkit_names() -> tuple[str, ...]:
    from .face.arkit_names import ARKIT_NAMES

    return ARKIT_NAMES


@functools.lru_cache(maxsize=1)
def _normalised_arkit() -> dict[str, str]:
    return {name.lower(): name for name in _arkit_names()}


def _normalise_key_name(name: str) -> str:
    text = name.strip().lower()
    for pattern, side in _SIDE_SUFFIXES:
        text = pattern.sub(side, text)
    return re.sub(r"[^a-z0-9]", "", text)


def arkit_name_of(key_name: str) -> str | None:
    """The ARKit name a shape key stands for, or None. Case-insensitive; accepts any
    prefix (``A25_Jaw_Open``, ``blendShape1.jawOpen``, ``ARKit_EyeBlinkLeft``) and
    ``_L`` / ``.R`` side suffixes (``eyeBlink_L``)."""
    normalised = _normalise_key_name(key_name)
    known = _normalised_arkit()
    if normalised in known:
        return known[normalised]
    # No ARKit name ends with another one, so at most one suffix matches.
    for arkit_lower, arkit in known.items():
        if normalised.endswith(arkit_lower):
            return arkit
    return None


def match_arkit_keys(key_names: Sequence[str]) -> dict[str, str]:
    """ARKit name -> the shape key that carries it, in ARKIT_NAMES order. When two keys
    claim one name, the exact spelling wins, then the shorter name (fewer prefixes)."""
    claims: dict[str, list[str]] = {}
    for key_name in key_names:
        arkit = arkit_name_of(key_name)
        if arkit is not None:
            claims.setdefault(arkit, []).append(key_name)
    return {
        arkit: min(claims[arkit], key=lambda key: (key != arkit, len(key), key))
        for arkit in _arkit_names()
        if arkit in claims
    }


# Pairs that cannot both be on: looking in and out, smiling and frowning on one side...
EXCLUSIVE_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (a + side, b + side)
    for side in ("Left", "Right")
    for a, b in (("eyeLookIn", "eyeLookOut"), ("eyeLookUp", "eyeLookDown"), ("eyeBlink", "eyeWide"),
                 ("mouthSmile", "mouthFrown"), ("browDown", "browOuterUp"))
) + (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"))


def is_upper_face_key(arkit_name: str) -> bool:
    return arkit_name.startswith(("eye", "brow"))


def is_mouth_key(arkit_name: str) -> bool:
    """Keys that follow the audio (kept when the upper face is resampled)."""
    return arkit_name.startswith(("jaw", "mouth", "tongue", "cheekPuff"))


# ---------------------------------------------------------------- blendshape solve


@dataclass(frozen=True)
class SolveSettings:
    """Penalty weights, relative to the mean squared norm of one blendshape (so they do
    not depend on the mesh's size or units)."""

    sum_of_weights: float = 0.001  # the L1-like term: (sum w)^2 keeps few shapes on
    ridge: float = 0.001  # w^2: stable when shapes overlap
    temporal_lower: float = 0.03  # (w - w_prev)^2 for the mouth, jaw, cheeks, nose
    temporal_upper: float = 0.1  # ... for eyes and brows (they jitter more when noisy)
    symmetry: float = 0.01  # (w_left - w_right)^2 for mirrored pairs
    resolve_exclusive_pairs: bool = True


class BlendshapeSolver:
    """Per frame: argmin_w |D w - d|^2 + penalties, 0 <= w <= 1, carrying w_prev across
    calls (so chunks of one animation solve exactly as the whole would).

    deltas: (K, V, 3) shape-key offsets from the neutral; names: the K ARKit names."""

    def __init__(self, deltas: np.ndarray, names: Sequence[str], settings: SolveSettings = SolveSettings()):
        from .face.arkit_names import mirror_name

        deltas = np.asarray(deltas, dtype=np.float64)
        if deltas.ndim != 3 or deltas.shape[0] != len(names) or deltas.shape[2] != 3:
            raise ValueError(f"deltas must be (K={len(names)}, V, 3), got {deltas.shape}")
        if not len(names):
            raise MeshTalkError("No ARKit-named shape keys to solve for.")
        self.names = tuple(names)
        count = len(names)
        self._basis = deltas.reshape(count, -1)  # (K, 3V)
        gram = self._basis @ self._basis.T
        scale = float(np.trace(gram) / count)
        if scale <= 0:
            raise MeshTalkError("All the ARKit shape keys are identical to the basis shape; nothing to animate.")
        index = {name: i for i, name in enumerate(self.names)}
        temporal = np.array([settings.temporal_upper if is_upper_face_key(n) else settings.temporal_lower
                             for n in self.names]) * scale
        symmetry = np.zeros((count, count))
        for name, i in index.items():
            twin = index.get(mirror_name(name))
            if twin is not None and twin > i:
                row = np.zeros(count)
                row[i], row[twin] = 1.0, -1.0
                symmetry += np.outer(row, row)
        self._temporal = temporal
        self._system = (gram + settings.sum_of_weights * scale * np.ones((count, count))
                        + settings.ridge * scale * np.eye(count) + np.diag(temporal)
                        + settings.symmetry * scale * symmetry)
        self._exclusive = [(index[a], index[b]) for a, b in EXCLUSIVE_PAIRS
                           if a in index and b in index] if settings.resolve_exclusive_pairs else []
        self._previous = np.zeros(count)

    def solve(self, displacements: np.ndarray) -> np.ndarray:
        """(T, V, 3) displacements from the neutral -> (T, K) float32 weights in [0, 1]."""
        displacements = np.asarray(displacements, dtype=np.float64)
        frames = len(displacements)
        if displacements.reshape(frames, -1).shape[1] != self._basis.shape[1]:
            raise ValueError(f"displacements have {displacements.shape[1:]} per frame, the shapes "
                             f"{self._basis.shape[1] // 3} vertices")
        targets = displacements.reshape(frames, -1) @ self._basis.T  # (T, K): D^T d per frame
        weights = np.zeros((frames, len(self.names)), dtype=np.float32)
        lower = np.zeros(len(self.names))
        for frame in range(frames):
            upper = np.ones(len(self.names))
            rhs = targets[frame] + self._temporal * self._previous
            solution = self._previous.copy()
            solve_box_qp(self._system, rhs, solution, lower, upper)
            if self._exclusive:
                # The smaller of two opposites is switched off, and the rest re-solved.
                clashes = [(a, b) for a, b in self._exclusive if solution[a] > 1e-4 and solution[b] > 1e-4]
                for a, b in clashes:
                    upper[b if solution[a] >= solution[b] else a] = 0.0
                if clashes:
                    np.minimum(solution, upper, out=solution)
                    solve_box_qp(self._system, rhs, solution, lower, upper)
            weights[frame] = solution
            self._previous = solution
        return weights


def solve_box_qp(system: np.ndarray, rhs: np.ndarray, solution: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 tolerance: float = 1e-7, max_sweeps: int = 2000) -> None:
    """Minimises 0.5 w^T A w - rhs^T w with lower <= w <= upper, in place from the
    given start: (K, K) system A (symmetric positive definite), (K,) the rest."""
    _box_qp_kernel()(system, rhs, solution, lower, upper, tolerance, max_sweeps)


@functools.lru_cache(maxsize=1)
def _box_qp_kernel():
    from .sampling import numba  # from there: numba's cache folder is set before numba loads

    return numba.njit(cache=True, nogil=True)(_box_qp_sweeps)


def _box_qp_sweeps(system, rhs, solution, lower, upper, tolerance, max_sweeps):
    """Cyclic coordinate descent from the given start (the previous frame: a few sweeps
    suffice); converges to the exact optimum because the system is positive definite."""
    count = len(rhs)
    gradient = system @ solution - rhs
    for _ in range(max_sweeps):
        largest_step = 0.0
        for i in range(count):
            value = solution[i] - gradient[i] / system[i, i]
            value = min(max(value, lower[i]), upper[i])
            step = value - solution[i]
            if step != 0.0:
                solution[i] = value
                gradient += step * system[:, i]
                largest_step = max(largest_step, abs(step))
        if largest_step < tolerance:
            break


# ---------------------------------------------------------------- compact shape-key basis


@dataclass
class CompactBasis:
    components: np.ndarray  # (k, V, 3) float32: the offset of each shape key at weight 1
    weights: np.ndarray  # (T, k) float32 in [-1, 1]
    max_error: float  # the largest vertex distance between the animation and its reconstruction

    def reconstruct(self) -> np.ndarray:
        """(T, V, 3) displacements."""
        return np.einsum("tk,kvc->tvc", self.weights, self.components)


FIT_BLOCK_ROWS = 256  # frames per matrix product between two on_step calls (well under a second)
SEARCH_ROWS = 512  # frames the number of keys is first searched on


def compact_basis(displacements: np.ndarray, tolerance: float, max_components: int = 64,
                  max_frames_for_fit: int = 2000, on_step: Callable[[float], None] | None = None) -> CompactBasis:
    """The fewest shape keys (up to ``max_components``) whose keyframed weights reproduce
    (T, V, 3) displacements within ``tolerance`` (a vertex distance, in their units).

    The keys are the leading right singular vectors of the displacements, found on at
    most ``max_frames_for_fit`` evenly spread frames (so an hour costs what a minute
    does); every frame is then projected onto them and the true error is measured.

    ``on_step(fraction)`` is called between steps of at most about a second each (the
    fit takes tens of seconds on a long clip): it reports progress, and may raise to
    stop the fit there (cancel)."""
    step = on_step or (lambda fraction: None)
    displacements = np.asarray(displacements, dtype=np.float32)
    frames, vertices = displacements.shape[:2]
    flat = displacements.reshape(frames, -1)
    fit_rows = flat if frames <= max_frames_for_fit else flat[np.linspace(0, frames - 1, max_frames_for_fit).astype(int)]
    fit_rows = fit_rows.astype(np.float64)
    step(0.0)
    # Eigenvectors of the small frame Gram matrix give the singular vectors cheaply.
    gram = np.empty((len(fit_rows), len(fit_rows)))
    for start in range(0, len(fit_rows), FIT_BLOCK_ROWS):
        gram[start:start + FIT_BLOCK_ROWS] = fit_rows[start:start + FIT_BLOCK_ROWS] @ fit_rows.T
        step(0.2 * min(1.0, (start + FIT_BLOCK_ROWS) / len(fit_rows)))
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    step(0.3)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    usable = int(np.sum(eigenvalues > max(eigenvalues[0], 0.0) * 1e-12)) if len(eigenvalues) else 0
    rank = max(1, min(max_components, usable))
    directions = (eigenvectors[:, :rank].T @ fit_rows) / np.sqrt(
        np.maximum(eigenvalues[:rank], 1e-30))[:, None]  # (rank, 3V) orthonormal rows
    step(0.35)
    coefficients = np.empty((frames, rank))  # (T, rank)
    for start in range(0, frames, FIT_BLOCK_ROWS):
        coefficients[start:start + FIT_BLOCK_ROWS] = flat[start:start + FIT_BLOCK_ROWS].astype(np.float64) @ directions.T
        step(0.35 + 0.15 * min(1.0, (start + FIT_BLOCK_ROWS) / frames))
    # The smallest k within tolerance on the fit frames, by bisection (the error falls as
    # components are added), each trial in blocks of frames that stops at the first block
    # over the tolerance; then measured on all frames. (Peeling one component at a time
    # off the whole residual cost up to 44 passes over it: 25 s on a 60 s clip.)
    def within(k: int, rows_to_check: np.ndarray, fraction: float) -> bool:
        for start in range(0, len(rows_to_check), FIT_BLOCK_ROWS):
            step(fraction)
            rows = rows_to_check[start:start + FIT_BLOCK_ROWS]
            residual = rows - (rows @ directions[:k].T) @ directions[:k]
            if np.sqrt((residual.reshape(len(rows), vertices, 3) ** 2).sum(axis=2)).max() > tolerance:
                return False
        return True

    def smallest_within(low: int, rows_to_check: np.ndarray) -> int:
        high = rank
        if not within(rank, rows_to_check, 0.5):
            return rank
        while low < high:
            middle = (low + high) // 2
            fraction = 0.5 + 0.45 * (1.0 - (high - low) / rank)
            low, high = (low, middle) if within(middle, rows_to_check, fraction) else (middle + 1, high)
        return high

    # Searched on a sample of the fit frames (each trial is a pass over them), then
    # confirmed on all of them, searching further up only if the sample missed a frame.
    sample = fit_rows[np.linspace(0, len(fit_rows) - 1, min(len(fit_rows), SEARCH_ROWS)).astype(int)]
    count = smallest_within(1, sample)
    if count < rank and not within(count, fit_rows, 0.9):
        count = smallest_within(count + 1, fit_rows)
    directions, coefficients = directions[:count], coefficients[:, :count]
    peak = np.maximum(np.abs(coefficients).max(axis=0), 1e-12)  # weights in [-1, 1]
    weights = (coefficients / peak).astype(np.float32)
    components = (directions * peak[:, None]).astype(np.float32).reshape(count, vertices, 3)
    step(0.95)
    error = _max_vertex_error(flat, weights, components.reshape(count, -1), vertices)
    step(1.0)
    return CompactBasis(components, weights, error)


SHARED_WEIGHT_LIMIT = 10.0  # Blender's shape-key sliders reach +-10 at most


def extend_basis(displacements: np.ndarray, existing: np.ndarray, tolerance: float, max_components: int = 64,
                 max_frames_for_fit: int = 2000,
                 on_step: Callable[[float], None] | None = None) -> tuple[CompactBasis, int]:
    """A basis for (T, V, 3) displacements that reuses the (k0, V, 3) ``existing`` shape
    keys (another take's) and adds only what they cannot reproduce within ``tolerance``.
    Returns (basis over existing + new components, how many of them are new); the
    weights of all of them are solved together (least squares), kept within the shape
    keys' reach (+-SHARED_WEIGHT_LIMIT)."""
    step = on_step or (lambda fraction: None)
    displacements = np.asarray(displacements, dtype=np.float32)
    frames, vertices = displacements.shape[:2]
    existing = np.asarray(existing, dtype=np.float32).reshape(-1, vertices, 3)
    if not len(existing):
        basis = compact_basis(displacements, tolerance, max_components, max_frames_for_fit, on_step)
        return basis, len(basis.components)
    flat = displacements.reshape(frames, -1)
    old = existing.reshape(len(existing), -1).astype(np.float64)
    weights = _least_squares_weights(flat, old)
    residual = (flat - weights @ old).astype(np.float32)
    step(0.1)
    new = np.zeros((0, vertices * 3))
    if _max_vertex_error(flat, weights, old, vertices) > tolerance or np.abs(weights).max() > SHARED_WEIGHT_LIMIT:
        room = max(1, max_components - len(existing))
        fitted = compact_basis(residual.reshape(frames, vertices, 3), tolerance, room, max_frames_for_fit,
                               lambda fraction: step(0.1 + 0.8 * fraction))
        new = fitted.components.reshape(len(fitted.components), -1).astype(np.float64)
    components = np.concatenate([old, new])
    weights = np.clip(_least_squares_weights(flat, components), -SHARED_WEIGHT_LIMIT, SHARED_WEIGHT_LIMIT)
    error = _max_vertex_error(flat, weights, components, vertices)
    step(1.0)
    basis = CompactBasis(components.astype(np.float32).reshape(-1, vertices, 3), weights.astype(np.float32), error)
    return basis, len(new)


def _least_squares_weights(flat: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(T, k) weights minimising |flat - weights @ components| (k, 3V), row by row."""
    gram = components @ components.T
    rhs = np.concatenate([flat[start:start + FIT_BLOCK_ROWS].astype(np.float64) @ components.T
                          for start in range(0, len(flat), FIT_BLOCK_ROWS)]) if len(flat) else np.zeros((0, len(gram)))
    return np.linalg.lstsq(gram, rhs.T, rcond=None)[0].T


def _max_vertex_error(flat: np.ndarray, approximation_weights: np.ndarray, components: np.ndarray,
                      vertices: int) -> float:
    """The largest vertex distance between (T, 3V) ``flat`` and weights (T, k) @
    components (k, 3V), in blocks of frames (whole, the temporaries of a 4-minute clip
    took 3.5 s of memory traffic)."""
    worst = 0.0
    for start in range(0, len(flat), FIT_BLOCK_ROWS):
        rows = slice(start, start + FIT_BLOCK_ROWS)
        difference = (flat[rows] - approximation_weights[rows] @ components).reshape(-1, vertices, 3)
        worst = max(worst, float(np.sqrt((difference ** 2).sum(axis=2)).max()))
    return worst


# ---------------------------------------------------------------- a mesh of the model's topology

MAX_ALIGNMENT_ERROR = 0.3  # relative RMS distance; another vertex order gives about 1.4


def align_to_template(rest: np.ndarray, template: np.ndarray, stable_vertices: np.ndarray | None = None,
                      name: str = "The mesh") -> Similarity:
    """The similarity taking a mesh's (V, 3) rest positions onto the model's (V, 3)
    template, fitted on ``stable_vertices`` (skull, forehead, nose bridge: no expression
    moves them) when known, else on all vertices. Refuses a mesh whose vertex order is
    not the model's: the decoder would tear it apart."""
    rest, template = np.asarray(rest), np.asarray(template)
    if rest.shape != template.shape:
        raise MeshTalkError(f"{name} has {len(rest)} vertices; the model animates {len(template)}.")
    fit_on = np.arange(len(rest)) if stable_vertices is None else np.asarray(stable_vertices)
    transform = fit_similarity(rest[fit_on], template[fit_on])
    if alignment_error(transform, rest, template) > MAX_ALIGNMENT_ERROR:
        raise MeshTalkError(f"{name} has the model's vertex count but not its vertex order (it does not line up "
                            "with the template); use the MeshTalk head or a mesh sculpted from it.")
    return transform
