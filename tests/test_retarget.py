"""core.retarget: similarity transforms, ARKit key names, the bounded blendshape solve
and the compact shape-key basis (no Blender)."""

import numpy as np
import pytest
from scipy.optimize import lsq_linear
from scipy.spatial.transform import Rotation

from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.face import ARKIT_NAMES, apply_arkit, arkit_deltas, load_bundled_head
from meshtalk_blender.core.retarget import (FIT_BLOCK_ROWS, BlendshapeSolver, SolveSettings, align_to_template,
                                            extend_basis,
                                            arkit_name_of, compact_basis, fit_similarity, match_arkit_keys,
                                            solve_box_qp)


@pytest.fixture(scope="module")
def head():
    return load_bundled_head()


@pytest.fixture(scope="module")
def rig(head):
    return arkit_deltas(head)


def test_similarity_recovers_scale_rotation_translation_and_inverts():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3))
    rotation = Rotation.from_euler("xyz", [90, -20, 35], degrees=True).as_matrix()
    moved = 37.5 * points @ rotation.T + np.array([3.0, -2.0, 10.0])
    transform = fit_similarity(points, moved)
    assert transform.scale == pytest.approx(37.5, rel=1e-6)
    assert np.allclose(transform.rotation, rotation, atol=1e-6)
    assert np.allclose(transform.apply(points), moved, atol=1e-3)
    assert np.allclose(transform.inverse().apply(moved), points, atol=1e-5)
    assert np.allclose(transform.apply_to_offsets(np.eye(3)), 37.5 * rotation.T, atol=1e-4)


def test_similarity_never_mirrors():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(100, 3))
    mirrored = points * np.array([-1.0, 1.0, 1.0])
    assert np.linalg.det(fit_similarity(points, mirrored).rotation) > 0


def test_align_on_stable_vertices_ignores_the_expression(head, rig):
    """A head moved to centimetres and Y-up, with its jaw open, still aligns exactly on
    the vertices no expression moves."""
    rotation = Rotation.from_euler("x", -90, degrees=True).as_matrix()
    jaw = rig[ARKIT_NAMES.index("jawOpen")]
    posed = (head.vertices + jaw) * 100.0 @ rotation.T + np.array([5.0, 0.0, 170.0])
    transform = align_to_template(posed, head.vertices, head.index_sets["stable"])
    assert np.allclose(transform.apply(posed), head.vertices + jaw, atol=1e-5)


def test_align_refuses_another_vertex_order(head):
    shuffled = head.vertices[np.random.default_rng(2).permutation(len(head.vertices))]
    with pytest.raises(MeshTalkError, match="vertex order"):
        align_to_template(shuffled, head.vertices, head.index_sets["stable"], "'Face'")


@pytest.mark.parametrize("key_name, expected", [
    ("jawOpen", "jawOpen"), ("JawOpen", "jawOpen"), ("A25_Jaw_Open", "jawOpen"), ("EyeBlinkLeft", "eyeBlinkLeft"),
    ("blendShape1.mouthSmileRight", "mouthSmileRight"), ("ARKit_browInnerUp", "browInnerUp"),
    ("eyeBlink_L", "eyeBlinkLeft"), ("mouthSmile.R", "mouthSmileRight"), ("viseme_aa", None), ("Smile", None),
    ("Basis", None), ("mouthLeft", "mouthLeft"), ("cheekPuff", "cheekPuff"),
])
def test_arkit_names_match_case_insensitively_with_prefixes(key_name, expected):
    assert arkit_name_of(key_name) == expected


def test_exact_spelling_wins_a_clash():
    assert match_arkit_keys(["A25_Jaw_Open", "jawOpen", "eyeBlink_L"]) == {"eyeBlinkLeft": "eyeBlink_L",
                                                                           "jawOpen": "jawOpen"}


def test_box_qp_matches_scipy_bounded_least_squares():
    rng = np.random.default_rng(3)
    for _ in range(5):
        matrix = rng.normal(size=(40, 12))
        system = matrix.T @ matrix + 0.01 * np.eye(12)
        rhs = matrix.T @ rng.normal(size=40)
        solution = np.full(12, 0.5)
        solve_box_qp(system, rhs, solution, np.zeros(12), np.ones(12), 1e-12, 100000)
        cholesky = np.linalg.cholesky(system)
        reference = lsq_linear(cholesky.T, np.linalg.solve(cholesky, rhs), bounds=(0, 1), method="bvls", tol=1e-14).x
        assert np.abs(solution - reference).max() < 1e-6


def test_solver_recovers_weights_of_a_rig_animation(head, rig):
    """Smooth, plausible weights (one side of each exclusive pair) come back closely."""
    frames = 60
    time = np.linspace(0, 2 * np.pi, frames)
    weights = np.zeros((frames, 52), dtype=np.float32)
    for name, phase in (("jawOpen", 0.0), ("mouthFunnel", 1.0), ("browInnerUp", 2.0), ("mouthSmileLeft", 0.5),
                        ("mouthSmileRight", 0.5), ("eyeBlinkLeft", 3.0), ("eyeBlinkRight", 3.0)):
        weights[:, ARKIT_NAMES.index(name)] = 0.5 + 0.4 * np.sin(time + phase)
    displacements = apply_arkit(head, weights, rig) - head.vertices
    solver = BlendshapeSolver(rig, ARKIT_NAMES)
    solved = solver.solve(displacements)
    assert solved.shape == (frames, 52) and solved.min() >= 0 and solved.max() <= 1
    assert np.abs(solved - weights)[5:].max() < 0.1  # after the first frames (smoothing starts at zero)
    reconstructed = apply_arkit(head, solved, rig) - head.vertices
    assert np.linalg.norm(reconstructed - displacements) / np.linalg.norm(displacements) < 0.05


def test_solver_streams_chunks_exactly_like_one_call(head, rig):
    rng = np.random.default_rng(4)
    weights = np.clip(rng.normal(0.2, 0.2, (30, 52)), 0, 1).astype(np.float32)
    displacements = apply_arkit(head, weights, rig) - head.vertices
    whole = BlendshapeSolver(rig, ARKIT_NAMES).solve(displacements)
    streaming = BlendshapeSolver(rig, ARKIT_NAMES)
    parts = np.concatenate([streaming.solve(displacements[:11]), streaming.solve(displacements[11:])])
    assert np.allclose(whole, parts, atol=1e-6)


def test_exclusive_pairs_are_never_both_on(head, rig):
    weights = np.zeros((1, 52), dtype=np.float32)
    weights[0, ARKIT_NAMES.index("jawLeft")] = 0.6
    weights[0, ARKIT_NAMES.index("jawRight")] = 0.3
    displacements = apply_arkit(head, weights, rig) - head.vertices
    solved = BlendshapeSolver(rig, ARKIT_NAMES, SolveSettings(temporal_lower=0.0)).solve(displacements)[0]
    left, right = solved[ARKIT_NAMES.index("jawLeft")], solved[ARKIT_NAMES.index("jawRight")]
    assert min(left, right) == 0.0 and max(left, right) > 0.1


def test_solver_on_a_subset_of_keys(head, rig):
    names = ["jawOpen", "mouthFunnel", "eyeBlinkLeft"]
    subset = rig[[ARKIT_NAMES.index(n) for n in names]]
    displacements = 0.7 * subset[0][None]
    solved = BlendshapeSolver(subset, names, SolveSettings(temporal_lower=0.0)).solve(displacements)
    assert solved[0, 0] == pytest.approx(0.7, abs=0.02) and solved[0, 2] < 0.02


def test_compact_basis_reproduces_within_tolerance():
    rng = np.random.default_rng(5)
    shapes = rng.normal(size=(6, 500, 3)).astype(np.float32) * 0.01
    weights = rng.normal(size=(120, 6)).astype(np.float32)
    displacements = np.einsum("tk,kvc->tvc", weights, shapes) + rng.normal(size=(120, 500, 3)).astype(np.float32) * 1e-6
    basis = compact_basis(displacements, tolerance=1e-4)
    assert len(basis.components) == 6
    assert basis.max_error <= 1e-4
    assert np.abs(basis.weights).max() <= 1.0 + 1e-6
    assert np.sqrt(((basis.reconstruct() - displacements) ** 2).sum(axis=2)).max() == pytest.approx(basis.max_error,
                                                                                                  rel=1e-3)


def test_compact_basis_fits_long_animations_on_a_subsample():
    rng = np.random.default_rng(6)
    shapes = rng.normal(size=(3, 50, 3)).astype(np.float32)
    weights = rng.normal(size=(5000, 3)).astype(np.float32)
    displacements = np.einsum("tk,kvc->tvc", weights, shapes)
    basis = compact_basis(displacements, tolerance=1e-3, max_frames_for_fit=300)
    assert len(basis.components) == 3 and basis.max_error < 1e-3 and basis.weights.shape == (5000, 3)


def test_compact_basis_of_no_motion_is_one_silent_key():
    basis = compact_basis(np.zeros((10, 20, 3), dtype=np.float32), tolerance=1e-6)
    assert basis.components.shape == (1, 20, 3) and basis.max_error == 0.0


def test_compact_basis_reports_each_step_and_stops_where_the_callback_raises():
    """Cancel reaches the fit between steps: each matrix product covers at most
    FIT_BLOCK_ROWS frames (Esc waited for the whole fit, 25 s on a 60 s clip)."""
    rng = np.random.default_rng(7)
    shapes = rng.normal(size=(12, 100, 3)).astype(np.float32)
    displacements = np.einsum("tk,kvc->tvc", rng.normal(size=(1000, 12)).astype(np.float32), shapes)
    fractions = []
    basis = compact_basis(displacements, tolerance=1e-3, on_step=fractions.append)
    assert len(basis.components) == 12
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    # A step for each block of frames: the Gram rows, the projections, each trial's blocks.
    assert len(fractions) >= 3 * -(-1000 // FIT_BLOCK_ROWS)

    class Stop(Exception):
        pass

    seen = []

    def stop_at_the_third_step(fraction):
        seen.append(fraction)
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        compact_basis(displacements, tolerance=1e-3, on_step=stop_at_the_third_step)
    assert len(seen) == 3


def test_extend_basis_reuses_existing_keys_and_adds_only_what_they_miss():
    rng = np.random.default_rng(8)
    shapes = rng.normal(size=(8, 300, 3)).astype(np.float32) * 0.01
    first = np.einsum("tk,kvc->tvc", rng.normal(size=(200, 6)).astype(np.float32), shapes[:6])
    second = np.einsum("tk,kvc->tvc", rng.normal(size=(200, 8)).astype(np.float32), shapes)
    base = compact_basis(first, 1e-4)
    extended, added = extend_basis(second, base.components, 1e-4)
    assert len(base.components) == 6 and added == 2 and len(extended.components) == 8
    np.testing.assert_array_equal(extended.components[:6], base.components)  # the existing keys are kept as they are
    assert extended.max_error <= 1e-4
    assert np.sqrt(((extended.reconstruct() - second) ** 2).sum(axis=2)).max() <= 1e-4
    again, none = extend_basis(first, extended.components, 1e-4)
    assert none == 0 and again.max_error <= 1e-4
    fresh, count = extend_basis(first, np.zeros((0, 300, 3), np.float32), 1e-4)
    assert count == len(fresh.components) == 6
