"""The add-on under hostile conditions: cancel in every stage, where files go and when
they are deleted, packed sounds, odd strips and files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (add_head, add_strip, addon, addon_module, empty_scene,  # noqa: E402,F401
                             fingerprint, run_operator, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "line.wav", seconds=1.5)


@pytest.fixture
def saved_scene(addon, tmp_path):
    empty_scene()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    return bpy.context.scene


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
