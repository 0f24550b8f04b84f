"""Make ARKit Shape Keys: the 52 ARKit shape keys for the active mesh, whatever its
topology (core.character fits the MeshTalk head onto its face and transfers the rig).

The fit runs on a worker thread (progress in the status bar, Esc cancels); the keys are
written at the end in one go, so one Undo removes them, and a failure or a cancel leaves
the file as it was. In background mode and scripts it runs synchronously.
"""

from __future__ import annotations

import threading
import time

import bpy

from ...core.errors import MeshTalkError
from .. import character_rig

TIMER_SECONDS = 0.1


class _Cancelled(Exception):
    pass


class _Worker:
    def __init__(self, rig_plan):
        self.plan = rig_plan
        self.stage, self.progress = "Starting", 0.0
        self.result = self.error = None
        self.cancelled = False
        self.finished = False
        self.started = time.perf_counter()
        self.seconds = 0.0

    def _progress(self, stage: str, fraction: float) -> None:
        self.stage, self.progress = stage, fraction

    def _check(self) -> None:
        if self.cancelled:
            raise _Cancelled()

    def run(self) -> None:
        try:
            self.result = character_rig.run(self.plan, self._progress, self._check)
        except _Cancelled:
            pass
        except MeshTalkError as error:
            self.error = str(error)
        except Exception as error:  # a bug: say so, change nothing
            import traceback

            traceback.print_exc()
            self.error = f"MeshTalk: internal error while making the keys ({type(error).__name__}: {error}); please report it."
        finally:
            self.seconds = time.perf_counter() - self.started
            self.finished = True


class MESHTALK_OT_make_arkit_keys(bpy.types.Operator):
    """Give the active mesh the 52 ARKit shape keys (any topology): its face is found and the MeshTalk head's rig is fitted onto it. Keys it already has are kept (Esc cancels)"""

    bl_idname = "meshtalk.make_arkit_keys"
    bl_label = "Make ARKit Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    def _plan(self, context):
        try:
            return character_rig.plan(context, context.active_object)
        except MeshTalkError as error:
            self.report({"ERROR"}, str(error))
            return None

    def _finish(self, worker: _Worker):
        if worker.cancelled:
            self.report({"WARNING"}, "MeshTalk: cancelled; nothing was changed.")
            return {"CANCELLED"}
        if worker.error is not None:
            self.report({"ERROR"}, worker.error)
            return {"CANCELLED"}
        try:
            message = character_rig.apply(worker.plan, worker.result)
        except MeshTalkError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{message} ({worker.seconds:.1f} s)")
        return {"FINISHED"}

    def execute(self, context):
        rig_plan = self._plan(context)
        if rig_plan is None:
            return {"CANCELLED"}
        worker = _Worker(rig_plan)
        worker.run()
        return self._finish(worker)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        rig_plan = self._plan(context)
        if rig_plan is None:
            return {"CANCELLED"}
        self._worker = _Worker(rig_plan)
        self._thread = threading.Thread(target=self._worker.run, name="MeshTalk character fit", daemon=True)
        self._thread.start()
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_SECONDS, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        worker = self._worker
        if event.type == "ESC" and event.value == "PRESS":
            worker.cancelled = True
            self._thread.join(timeout=5.0)
            self._stop(context)
            self.report({"WARNING"}, "MeshTalk: cancelled; nothing was changed.")
            return {"CANCELLED"}
        if event.type == "TIMER":
            if context.workspace is not None:
                context.workspace.status_text_set(
                    f"MeshTalk: {worker.stage} {worker.progress * 100:.0f} %  (Esc to cancel)")
            if worker.finished:
                self._stop(context)
                return self._finish(worker)
        return {"PASS_THROUGH"}

    def _stop(self, context) -> None:
        context.window_manager.event_timer_remove(self._timer)
        if context.workspace is not None:
            context.workspace.status_text_set(None)
