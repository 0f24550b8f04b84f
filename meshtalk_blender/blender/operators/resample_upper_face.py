"""Resample Upper Face: new blinks and brows for the active take, same lips."""

import bpy

from .. import session
from ..job_runner import JobOperator
from ._resampling import active_take_object, next_seed


class MESHTALK_OT_resample_upper_face(JobOperator, bpy.types.Operator):
    """Redraw the upper face (blinks, brows) of the active take with a new seed; the lips stay as they are"""

    bl_idname = "meshtalk.resample_upper_face"
    bl_label = "Resample Upper Face"
    bl_options = {"UNDO"}

    def make_work(self, context) -> session.Work:
        obj = active_take_object(context)
        self._seed = next_seed(context, obj)
        return session.plan_resample(context, obj, [self._seed])

    def after_apply(self, context, work) -> None:
        context.scene.meshtalk.seed = self._seed  # the panel shows the seed that is playing
