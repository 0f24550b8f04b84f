"""The add-on under hostile conditions: cancel in every stage, where files go and when
they are deleted, packed sounds, odd strips and files."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (ADDON, add_head, add_strip, addon, addon_module, draw_panel,  # noqa: E402,F401
                             empty_scene, fingerprint, make_test_model, run_operator, saved_scene, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "line.wav", seconds=1.5)


def start_job(face):
    work = addon_module("blender.session").plan_animate(bpy.context, face)
    return addon_module("blender.job").Job(work.plans).start()


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.01)
    assert condition(), "timed out"


# ---------------------------------------------------------------- cancel (Esc) in every stage


def test_cancel_during_the_shape_key_fit_stops_the_fit(saved_scene, speech, monkeypatch):
    """The fit checks for cancel between its steps: the job ends cancelled with the fit
    unfinished (before, Esc waited for the whole fit: 25 s on a 60 s clip)."""
    face = add_head()
    add_strip(saved_scene, speech)
    saved_scene.meshtalk.output = "BASIS"
    before = fingerprint()
    job_module = addon_module("blender.job")
    real_work = job_module._work
    fitting = []

    def work_cancelled_in_the_fit(plan, report, should_cancel):
        def spy(stage: str, fraction: float) -> None:
            report(stage, fraction)
            if stage.startswith("Fitting"):
                fitting.append(fraction)
                if len(fitting) == 2:
                    job.cancel()  # Esc, pressed while the fit runs

        return real_work(plan, spy, should_cancel)

    monkeypatch.setattr(job_module, "_work", work_cancelled_in_the_fit)
    job = job_module.Job(addon_module("blender.session").plan_animate(bpy.context, face).plans)
    job.run()
    assert job.cancelled and job.results == [] and job.error is None
    assert len(fitting) == 2 and max(fitting) < 1.0  # the next step saw the cancel
    assert fingerprint() == before


def test_discarding_a_job_never_waits_more_than_a_second(saved_scene, speech, monkeypatch):
    """Esc returns the UI at once even when the worker is inside a long step that cannot
    check for cancel; the worker deletes its point cache itself when it gets out."""
    face = add_head()
    add_strip(saved_scene, speech)
    saved_scene.meshtalk.output = "MESH_CACHE"
    job_module = addon_module("blender.job")
    real_work = job_module._work
    inside = []

    def slow_work(plan, report, should_cancel):
        result = real_work(plan, report, should_cancel)
        inside.append(True)
        time.sleep(4.0)  # a step that does not look at cancel
        return result

    monkeypatch.setattr(job_module, "_work", slow_work)
    job = start_job(face)
    wait_for(lambda: inside)
    cache = Path(job.plans[0].cache_path)
    assert cache.is_file()
    started = time.perf_counter()
    job.discard()
    assert time.perf_counter() - started < 2.0
    wait_for(lambda: job.finished, 30)
    assert job.cancelled and job.results == [] and not cache.exists()


# ---------------------------------------------------------------- where caches may be written


def forget_approved_folders() -> None:
    """As in another user's Blender: no cache folder chosen there yet."""
    bpy.context.preferences.addons[ADDON].preferences.approved_cache_folders = ""
    addon_module("blender.cache_files")._session_approved.clear()


def test_a_cache_folder_that_came_with_the_file_is_refused_until_the_user_picks_it(saved_scene, speech, tmp_path):
    elsewhere = tmp_path / "somewhere_else"
    face = add_head()
    add_strip(saved_scene, speech)
    saved_scene.meshtalk.output = "MESH_CACHE"
    saved_scene.meshtalk.cache_folder = str(elsewhere)
    bpy.ops.wm.save_mainfile()
    forget_approved_folders()
    bpy.ops.wm.open_mainfile(filepath=bpy.data.filepath)  # the file as someone sent it
    bpy.context.view_layer.objects.active = bpy.data.objects["MeshTalk Head"]
    before = fingerprint()
    with pytest.raises(RuntimeError, match=f"The Cache Folder {elsewhere} came with the .blend file"):
        run_operator("animate_from_audio")
    assert fingerprint() == before and not elsewhere.exists()
    bpy.context.scene.meshtalk.cache_folder = str(elsewhere)  # the user picks it in the panel
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert len(list(elsewhere.glob("*.pc2"))) == 1


def test_relative_cache_folders_stay_next_to_the_blend(saved_scene, speech, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # Blender's working directory is elsewhere
    face = add_head()
    add_strip(saved_scene, speech)
    saved_scene.meshtalk.output = "MESH_CACHE"
    saved_scene.meshtalk.cache_folder = "caches_here/"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert len(list((tmp_path / "caches_here").glob("*.pc2"))) == 1
    assert face.meshtalk.takes[0].cache_file.startswith("//caches_here/")
    forget_approved_folders()
    saved_scene.meshtalk["cache_folder"] = "//../escaped/"  # as stored in a file, no update callback
    with pytest.raises(RuntimeError, match="came with the .blend file"):
        run_operator("animate_from_audio")
    assert not (tmp_path.parent / "escaped").exists()


def test_the_panel_says_where_caches_go(saved_scene, speech, tmp_path):
    add_head()
    saved_scene.meshtalk.output = "MESH_CACHE"
    texts = " ".join(text for _, text in draw_panel(addon_module("blender.panel").MESHTALK_PT_panel))
    assert f"Caches go to {tmp_path / 'meshtalk_cache'}" in texts


# ---------------------------------------------------------------- when caches are deleted


def newest_cache(face) -> Path:
    return addon_module("blender.writers").cache_file_path(face, face.meshtalk.takes[face.meshtalk.active_take])


def cache_takes(scene, speech, count: int):
    """The head with ``count`` point-cache takes of one line; their files."""
    face = add_head()
    add_strip(scene, speech)
    scene.meshtalk.output = "MESH_CACHE"
    paths = []
    for _ in range(count):
        assert run_operator("animate_from_audio") == {"FINISHED"}
        paths.append(newest_cache(face))
    return face, paths


def test_replaced_caches_stay_for_undo_and_go_when_the_file_closes(saved_scene, speech, tmp_path):
    face, (first,) = cache_takes(saved_scene, speech, 1)
    assert run_operator("resample_upper_face") == {"FINISHED"}  # replaces the take
    second = newest_cache(face)
    assert first.is_file() and second.is_file()  # Undo may bring the first take back
    assert run_operator("remove_animation") == {"FINISHED"}
    assert second.is_file()
    empty_scene()  # another file: this one's undo history is gone, nothing saved uses them
    assert not first.exists() and not second.exists()


def test_caches_a_saved_file_uses_are_never_deleted(saved_scene, speech, tmp_path):
    face, (first,) = cache_takes(saved_scene, speech, 1)
    bpy.ops.wm.save_mainfile()
    assert run_operator("resample_upper_face") == {"FINISHED"}
    second = newest_cache(face)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "version2.blend"))
    assert run_operator("resample_upper_face") == {"FINISHED"}
    third = newest_cache(face)
    empty_scene()  # closed without saving the third take
    assert first.is_file() and second.is_file() and not third.exists()


def test_clean_unused_caches_shows_their_size_and_deletes_only_those(saved_scene, speech, tmp_path):
    face, (used,) = cache_takes(saved_scene, speech, 1)
    bpy.ops.wm.save_mainfile()
    folder = used.parent
    old = [folder / f"Old_Head_{index:08x}.pc2" for index in range(3)]  # from earlier sessions
    for path in old:
        path.write_bytes(bytes(1024 * 1024))
    (folder / "notes.txt").write_text("the user's own file")
    assert run_operator("resample_upper_face") == {"FINISHED"}  # the first take is replaced: kept for Undo
    addon_module("blender.cache_files").forget_scans()
    texts = " ".join(text for _, text in draw_panel(addon_module("blender.panel").MESHTALK_PT_panel))
    assert "3 unused caches: 3.0 MB" in texts and "1 replaced caches" in texts
    assert run_operator("clean_caches") == {"FINISHED"}
    assert not any(path.exists() for path in old)
    assert used.is_file() and (folder / "notes.txt").is_file()
    assert newest_cache(face).is_file()


# ---------------------------------------------------------------- packed sounds


def packed_strip(scene, tmp_path):
    path = write_speech(tmp_path / "packed.wav", seconds=1.0)
    strip = add_strip(scene, path)
    strip.sound.pack()
    path.unlink()
    return strip


def test_packed_sounds_are_copied_privately_and_verified(saved_scene, tmp_path):
    import stat

    strip = packed_strip(saved_scene, tmp_path)
    face = add_head()
    audio_source = addon_module("blender.audio_source")
    data = strip.sound.packed_file.data
    copy = audio_source.packed_copy_path(data, ".wav")
    copy.unlink(missing_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    copy.symlink_to(victim)  # planted at the predictable name
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert victim.read_text() == "someone else's file"
    assert not copy.is_symlink() and copy.read_bytes() == data
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    copy.write_bytes(data[: len(data) // 2])  # a copy cut short by a crash
    assert run_operator("animate_from_audio") == {"FINISHED"}  # not a misleading "retimed strip" error
    assert copy.read_bytes() == data and face.meshtalk.takes[0].frames == 31


# ---------------------------------------------------------------- strips, files, seeds


def test_muted_strips_are_passed_over_or_named(saved_scene, tmp_path):
    muted = add_strip(saved_scene, write_speech(tmp_path / "muted.wav", seconds=1.0), frame=1)
    muted.mute = True
    face = add_head()
    with pytest.raises(RuntimeError, match="Every sound strip of the scene is muted"):
        run_operator("animate_from_audio")
    editor = saved_scene.sequence_editor
    playing = editor.strips.new_sound(name="playing", filepath=str(write_speech(tmp_path / "playing.wav", 1.5)),
                                      channel=2, frame_start=1)
    editor.active_strip = muted
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].strip_name == playing.name
    saved_scene.meshtalk.audio_strip = muted.name
    with pytest.raises(RuntimeError, match="'muted' is muted, so it does not play"):
        run_operator("animate_from_audio")
    muted.mute = False
    editor.channels[muted.channel].mute = True
    with pytest.raises(RuntimeError, match="'muted' is muted"):
        run_operator("animate_from_audio")


def test_load_audio_refuses_a_file_that_is_not_audio(saved_scene, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("these are my notes, not a recording\n" * 20)
    before = fingerprint()
    with pytest.raises(RuntimeError, match="notes.wav is not audio MeshTalk can read"):
        run_operator("load_audio", filepath=str(text))
    with pytest.raises(RuntimeError, match="is a folder"):
        run_operator("load_audio", filepath=str(tmp_path))
    assert fingerprint() == before


def test_a_wav_cut_short_plays_and_animates_what_is_there(saved_scene, tmp_path):
    """Blender's strip shows the samples the file holds, and the take covers them."""
    path = write_speech(tmp_path / "cut.wav", seconds=2.0)
    path.write_bytes(path.read_bytes()[: 44 + 2 * 16000])  # the header still claims 2 s; 1 s of samples is there
    add_strip(saved_scene, path)
    face = add_head()
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].frames == 31


def test_a_file_cut_after_its_strip_was_made_is_named_not_called_retimed(saved_scene, tmp_path):
    path = write_speech(tmp_path / "line.wav", seconds=2.0)
    add_strip(saved_scene, path)
    path.write_bytes(path.read_bytes()[: 44 + 2 * 16000])
    add_head()
    before = fingerprint()
    with pytest.raises(RuntimeError, match=r"line.wav holds 1.00 s of audio, but its strip 'line' was made for 2.00 s"):
        run_operator("animate_from_audio")
    assert fingerprint() == before


def test_audio_warnings_reach_the_report(saved_scene, speech, monkeypatch, capfd):
    """What the audio reader warns about (a file cut short in the CLI's case) is shown
    with the result, as a warning."""
    add_strip(saved_scene, speech)
    add_head()
    audio = addon_module("core.audio")
    real_probe = audio.probe

    def probe_with_a_warning(clip):
        return dataclasses.replace(real_probe(clip), warnings=("line.wav ends early, animating what is there.",))

    monkeypatch.setattr(audio, "probe", probe_with_a_warning)
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert "Warning: MeshTalk: 'MeshTalk Head' animated" in capfd.readouterr().out


def test_variants_of_the_largest_seed_wrap_around(saved_scene, speech):
    """Seeds stay within what a take can store (Blender's 32-bit int)."""
    add_strip(saved_scene, speech)
    face = add_head()
    saved_scene.meshtalk.seed = 2**31 - 1
    assert run_operator("animate_from_audio") == {"FINISHED"}
    saved_scene.meshtalk.variant_count = 2
    assert run_operator("make_variants") == {"FINISHED"}
    assert [take.seed for take in face.meshtalk.takes] == [2**31 - 1, 0, 1]
    face.meshtalk.active_take = 0
    assert run_operator("resample_upper_face") == {"FINISHED"}  # the panel shows the take's seed: the next free one
    assert [take.seed for take in face.meshtalk.takes] == [2, 0, 1]


# ---------------------------------------------------------------- invalid numbers, full disks


def test_a_model_whose_output_overflows_fails_and_writes_nothing(saved_scene, speech, tmp_path):
    """Finite weights whose output is infinite (a damaged or mismatched checkpoint):
    the run fails with a message; no NaN keys, no NaN cache."""
    import torch

    folder = make_test_model(tmp_path / "overflowing")
    checkpoints = addon_module("core.checkpoints")
    loaded = checkpoints.load_model(folder)
    with torch.no_grad():
        loaded.model.decoder.stddev.fill_(3e38)
        loaded.model.decoder.mean.fill_(3e38)  # mean + stddev * x overflows float32 for x > 0.13
    checkpoints.save_bundle(folder, loaded.model, loaded.template, description="overflowing", licence="MIT",
                            vertex_masks=loaded.vertex_masks, inference_only=True)
    add_strip(saved_scene, speech)
    add_head()
    prefs = bpy.context.preferences.addons[ADDON].preferences
    good = prefs.model_folder
    prefs.model_folder = str(folder)
    try:
        for output in ("ARKIT", "MESH_CACHE", "BASIS"):
            saved_scene.meshtalk.output = output
            before = fingerprint()
            with pytest.raises(RuntimeError, match="invalid numbers"):
                run_operator("animate_from_audio")
            assert fingerprint() == before
        assert not list((tmp_path / "meshtalk_cache").glob("*"))
    finally:
        prefs.model_folder = good


def test_a_mesh_with_nan_vertices_is_refused(saved_scene, speech):
    add_strip(saved_scene, speech)
    face = add_head()
    face.data.shape_keys.reference_key.data[10].co = (float("nan"), 0.0, 0.0)
    before = fingerprint()
    with pytest.raises(RuntimeError, match="has vertices at invalid positions"):
        run_operator("animate_from_audio")
    assert fingerprint() == before


def test_a_full_disk_while_writing_the_cache_is_a_message(saved_scene, speech, tmp_path):
    from fault_support import small_disk

    add_strip(saved_scene, write_speech(tmp_path / "long.wav", seconds=20.0))
    add_head()
    saved_scene.meshtalk.output = "MESH_CACHE"
    with small_disk(tmp_path / "small", "256k") as folder:
        saved_scene.meshtalk.cache_folder = str(folder)  # chosen here
        before = fingerprint()
        with pytest.raises(RuntimeError, match="the disk is full"):
            run_operator("animate_from_audio")
        assert fingerprint() == before and not list(folder.iterdir())


def test_a_read_only_cache_folder_is_refused_before_any_work(saved_scene, speech, tmp_path):
    from fault_support import read_only_folder

    add_strip(saved_scene, speech)
    add_head()
    saved_scene.meshtalk.output = "MESH_CACHE"
    with read_only_folder(tmp_path / "locked") as folder:
        saved_scene.meshtalk.cache_folder = str(folder)
        before = fingerprint()
        with pytest.raises(RuntimeError, match="is not writable"):
            run_operator("animate_from_audio")
        assert fingerprint() == before
