"""Running a job from an operator: modal in the UI (a worker thread, a timer that
redraws the progress, Esc to cancel), synchronous in scripts and background mode.

Only one job runs at a time; the panel shows it through ``running()``.
"""

from __future__ import annotations

import bpy

from ..core.errors import MeshTalkError
from . import session
from .job import Job

TIMER_SECONDS = 0.1
_running: Job | None = None


def running() -> Job | None:
    return _running if _running is not None and not _running.finished else None


def cancel_running() -> None:
    """Stops a running job and throws its result away (e.g. when another file opens)."""
    if _running is not None:
        _running.discard()


class JobOperator:
    """Mixin for operators whose work runs as a job. Subclasses define
    ``make_work(context) -> session.Work`` and may define ``after_apply(context, work)``."""

    def make_work(self, context) -> session.Work:
        raise NotImplementedError

    def after_apply(self, context, work: session.Work) -> None:
        pass

    # -- synchronous: scripts, the batch command, background mode
    def execute(self, context):
        work = self._work_or_report(context)
        if work is None:
            return {"CANCELLED"}
        job = Job(work.plans)
        job.run()
        return self._finish(context, job, work)

    # -- interactive: a worker thread, progress, Esc
    def invoke(self, context, event):
        global _running
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if running() is not None:
            self.report({"ERROR"}, "MeshTalk is already animating; wait for it or press Esc to cancel it.")
            return {"CANCELLED"}
        work = self._work_or_report(context)
        if work is None:
            return {"CANCELLED"}
        self._work = work
        self._job = _running = Job(work.plans).start()
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        self._show_status(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._job.discard()
            self._stop(context)
            self.report({"WARNING"}, "MeshTalk: cancelled; nothing was changed.")
            return {"CANCELLED"}
        if event.type == "TIMER":
            self._show_status(context)
            if self._job.finished:
                self._stop(context)
                return self._finish(context, self._job, self._work)
        return {"PASS_THROUGH"}  # the viewport, timeline and playback keep working

    def _work_or_report(self, context) -> session.Work | None:
        try:
            return self.make_work(context)
        except MeshTalkError as error:
            self.report({"ERROR"}, str(error))
            return None

    def _finish(self, context, job: Job, work: session.Work):
        if job.cancelled:
            self.report({"WARNING"}, "MeshTalk: cancelled; nothing was changed.")
            return {"CANCELLED"}
        if job.error is not None:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:
            message = session.apply(work, job.results)
        except MeshTalkError as error:
            job.discard()
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.after_apply(context, work)
        warned = work.summary.warning or any(result.notes for result in job.results)
        self.report({"WARNING"} if warned else {"INFO"}, f"{message} ({job.seconds:.1f} s)")
        return {"FINISHED"}

    def _show_status(self, context) -> None:
        job = self._job
        if context.workspace is not None:
            context.workspace.status_text_set(
                None if job.finished else f"MeshTalk: {job.stage} {job.progress * 100:.0f} %  (Esc to cancel)")
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                if area.type in {"VIEW_3D", "PROPERTIES"}:
                    area.tag_redraw()

    def _stop(self, context) -> None:
        global _running
        context.window_manager.event_timer_remove(self._timer)
        _running = None
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
