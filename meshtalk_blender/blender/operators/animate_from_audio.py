"""Animate from Audio: the active mesh, from the panel's sound strip, as a new take that
plays for that strip's line (earlier takes stay; other lines keep playing)."""

import bpy

from ...core.errors import MeshTalkError
from .. import session
from ..job_runner import JobOperator


class MESHTALK_OT_animate_from_audio(JobOperator, bpy.types.Operator):
    """Animate the active mesh from the sound strip: lip sync plus sampled blinks and brows (Esc cancels)"""

    bl_idname = "meshtalk.animate_from_audio"
    bl_label = "Animate from Audio"
    bl_options = {"UNDO"}

    def make_work(self, context) -> session.Work:
        obj = context.active_object
        if obj is None:
            raise MeshTalkError("Select the face mesh to animate (or add the MeshTalk head) first.")
        return session.plan_animate(context, obj)
