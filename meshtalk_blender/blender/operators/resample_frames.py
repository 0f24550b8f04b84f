"""Resample Frames: redraw the upper face in a frame range of the active take only."""

import bpy

from .. import session
from ..job_runner import JobOperator
from ._resampling import active_take_object, next_seed


class MESHTALK_OT_resample_frames(JobOperator, bpy.types.Operator):
    """Redraw the upper face between Start and End with a new seed; the lips and the rest of the take stay"""

    bl_idname = "meshtalk.resample_frames"
    bl_label = "Resample Frames"
    bl_options = {"UNDO"}

    def make_work(self, context) -> session.Work:
        settings = context.scene.meshtalk
        obj = active_take_object(context)
        self._seed = next_seed(context, obj)
        return session.plan_resample(context, obj, [self._seed], (settings.resample_start, settings.resample_end))

    def after_apply(self, context, work) -> None:
        context.scene.meshtalk.seed = self._seed
