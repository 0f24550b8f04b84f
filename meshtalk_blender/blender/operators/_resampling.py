"""What the resampling operators share (not an operator)."""

from ...core.errors import MeshTalkError
from .. import session


def active_take_object(context):
    obj = context.active_object
    if obj is None or obj.type != "MESH" or not len(obj.meshtalk.takes):
        raise MeshTalkError("Animate from Audio first: the active object has no MeshTalk take to resample.")
    return obj


def next_seed(context, obj) -> int:
    """The panel's seed, or the next unused one when the panel still shows the take's."""
    settings = context.scene.meshtalk
    take = obj.meshtalk.takes[obj.meshtalk.active_take]
    if settings.seed != take.seed:
        return settings.seed
    used = {t.seed for t in obj.meshtalk.takes}
    seed = session.following_seed(take.seed)
    while seed in used:
        seed = session.following_seed(seed)
    return seed
