"""Make Variants: N more takes of the active one, each with its own upper face."""

import bpy

from .. import session
from ..job_runner import JobOperator
from ._resampling import active_take_object


class MESHTALK_OT_make_variants(JobOperator, bpy.types.Operator):
    """Add takes with the same lips and other blinks and brows (one action or point cache each); pick one in the list"""

    bl_idname = "meshtalk.make_variants"
    bl_label = "Make Variants"
    bl_options = {"UNDO"}

    def make_work(self, context) -> session.Work:
        settings = context.scene.meshtalk
        obj = active_take_object(context)
        seeds = session.variant_seeds(obj, settings, settings.variant_count)
        return session.plan_resample(context, obj, seeds, scope=session.ADD)
