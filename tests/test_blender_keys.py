"""Keys an animator can edit: the shape-key outputs as the fewest Bezier keys within a
stated tolerance of the model's weights (none for keys that stay near zero), or a key
at every frame on request."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (add_head, add_strip, addon, addon_module, run_operator,  # noqa: E402,F401
                             saved_scene, write_speech)

pytestmark = pytest.mark.timeout(300)


def played(take, names) -> np.ndarray:
    actions, writers = addon_module("blender.actions"), addon_module("blender.writers")
    columns = [actions.sample_curve(take.action, writers.key_value_path(name), take.start_frame, take.frames)
               for name in names]
    return np.stack([np.zeros(take.frames) if c is None else c for c in columns], axis=1)


def key_count(take) -> int:
    actions = addon_module("blender.actions")
    return sum(len(curve.keyframe_points) for curve in actions._fcurves(take.action))


@pytest.mark.parametrize("output", ["ARKIT", "BASIS"])
def test_fewest_keys_stay_within_the_tolerance_of_every_frame(saved_scene, tmp_path, output):
    add_strip(saved_scene, write_speech(tmp_path / "line.wav", seconds=3.0))
    face = add_head()
    settings = saved_scene.meshtalk
    settings.output = output
    settings.keys = "EVERY_FRAME"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    every = face.meshtalk.takes[0]
    settings.keys, settings.key_tolerance = "REDUCED", 0.01
    assert run_operator("animate_from_audio") == {"FINISHED"}  # the same seed: the same weights
    reduced = face.meshtalk.takes[1]
    import json

    names = json.loads(every.key_names) if output == "ARKIT" else json.loads(every.basis_keys)
    reduced_names = json.loads(reduced.key_names) if output == "ARKIT" else json.loads(reduced.basis_keys)
    exact = played(every, names)
    approximate = played(reduced, reduced_names)
    error = np.abs(approximate - exact).max()
    print(f"{output}: {key_count(every)} keys every frame, {key_count(reduced)} reduced, max error {error:.4f}")
    assert error <= 0.01 + 1e-5
    assert key_count(reduced) < key_count(every)  # the random test model jitters; the bundled model: README
    points = [point for curve in addon_module("blender.actions")._fcurves(reduced.action)
              for point in curve.keyframe_points]
    assert {p.interpolation for p in points} == {"BEZIER"} and {p.handle_left_type for p in points} == {"ALIGNED"}
    if output == "ARKIT":  # keys that stay near zero get no curve
        quiet = np.abs(exact).max(axis=0) <= 0.01
        assert quiet.any() and len(addon_module("blender.actions")._fcurves(reduced.action)) == (~quiet).sum()


def test_a_reduced_take_resamples(saved_scene, tmp_path):
    add_strip(saved_scene, write_speech(tmp_path / "line.wav", seconds=2.0))
    face = add_head()
    saved_scene.meshtalk.output = "ARKIT"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].key_tolerance == pytest.approx(0.01)
    saved_scene.meshtalk.resample_start, saved_scene.meshtalk.resample_end = 10, 30
    assert run_operator("resample_frames") == {"FINISHED"}
    assert run_operator("resample_upper_face") == {"FINISHED"}


def test_basis_takes_share_their_shape_keys(saved_scene, tmp_path):
    """Variants reuse the keys the first take made and add only what they miss (each
    take used to add its own ~30); every take still reproduces its vertices; a key goes
    when no take uses it any more."""
    import json

    add_strip(saved_scene, write_speech(tmp_path / "line.wav", seconds=2.0))
    face = add_head()
    settings = saved_scene.meshtalk
    settings.output, settings.keys, settings.variant_count = "BASIS", "EVERY_FRAME", 3
    assert run_operator("animate_from_audio") == {"FINISHED"}
    first = len(json.loads(face.meshtalk.takes[0].basis_keys))
    assert run_operator("make_variants") == {"FINISHED"}
    keys = [k.name for k in face.data.shape_keys.key_blocks if k.name.startswith("MeshTalk ")]
    print(f"basis keys: {first} for the first take, {len(keys)} for four")
    assert len(keys) < 4 * first and json.loads(face.meshtalk.basis_keys) == keys
    for take in face.meshtalk.takes:
        assert json.loads(take.basis_keys)[:first] == keys[:first]  # the first take's keys are everyone's
    from blender_support import away_from_the_looks, positions_at

    session = addon_module("blender.session")
    away = away_from_the_looks(face)  # the takes also key the gaze, which moves the lids
    for index in (0, 3):
        face.meshtalk.active_take = index
        take = face.meshtalk.takes[index]
        expected = session._previous_output(face, take, ())[0]  # what its weights make, vertex for vertex
        np.testing.assert_allclose(positions_at(saved_scene, face, take.start_frame + 20)[away], expected[20][away],
                                   atol=1e-5)
    for _ in range(3):
        face.meshtalk.active_take = len(face.meshtalk.takes) - 1
        assert run_operator("remove_take") == {"FINISHED"}
    assert [k.name for k in face.data.shape_keys.key_blocks if k.name.startswith("MeshTalk ")] == keys[:first]


def test_strength_sliders_scale_their_groups_without_the_model(saved_scene, tmp_path):
    """Mouth, blinks, brows and eyes, each 0..2: the takes' keys are scaled exactly, a
    slider moved back restores them, a new take starts at the sliders, and resampling
    keeps the lips as they play."""
    add_strip(saved_scene, write_speech(tmp_path / "line.wav", seconds=2.0))
    face = add_head()
    settings, state = saved_scene.meshtalk, face.meshtalk
    settings.output, settings.keys = "ARKIT", "EVERY_FRAME"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = state.takes[0]
    names = ("jawOpen", "eyeBlinkLeft", "browInnerUp", "eyeLookInLeft")
    raw = played(take, names)
    state.strength_mouth = 0.5
    np.testing.assert_allclose(played(take, names), raw * [0.5, 1, 1, 1], atol=1e-6)
    state.strength_blinks = 0.0
    assert np.abs(played(take, names)[:, 1]).max() <= 1e-4 * max(1e-9, np.abs(raw[:, 1]).max()) + 1e-7
    state.strength_blinks, state.strength_mouth = 1.0, 1.0
    np.testing.assert_allclose(played(take, names), raw, rtol=1e-4, atol=1e-6)
    state.strength_brows = 1.5
    np.testing.assert_allclose(played(take, names)[:, 2], np.minimum(raw[:, 2] * 1.5, 1.0), atol=1e-6)

    state.strength_mouth = 0.5
    assert run_operator("animate_from_audio") == {"FINISHED"}  # the same seed: the same raw weights
    np.testing.assert_allclose(played(state.takes[1], names)[:, 0], raw[:, 0] * 0.5, atol=1e-6)
    before = played(state.takes[1], ("jawOpen", "mouthClose"))
    saved_scene.meshtalk.resample_start, saved_scene.meshtalk.resample_end = 10, 30
    assert run_operator("resample_frames") == {"FINISHED"}
    np.testing.assert_allclose(played(state.takes[1], ("jawOpen", "mouthClose")), before, atol=1e-6)
