"""One operator per file; ``CLASSES`` lists them for registration."""

from .add_head import MESHTALK_OT_add_head
from .animate_from_audio import MESHTALK_OT_animate_from_audio
from .clean_caches import MESHTALK_OT_clean_caches
from .face_landmarks import MESHTALK_OT_clear_face_landmarks, MESHTALK_OT_place_face_landmarks
from .load_audio import MESHTALK_OT_load_audio
from .make_arkit_keys import MESHTALK_OT_make_arkit_keys
from .make_variants import MESHTALK_OT_make_variants
from .remove_animation import MESHTALK_OT_remove_animation
from .remove_take import MESHTALK_OT_keep_playing_takes, MESHTALK_OT_remove_take
from .resample_frames import MESHTALK_OT_resample_frames
from .resample_upper_face import MESHTALK_OT_resample_upper_face

CLASSES = (
    MESHTALK_OT_add_head,
    MESHTALK_OT_animate_from_audio,
    MESHTALK_OT_clean_caches,
    MESHTALK_OT_place_face_landmarks,
    MESHTALK_OT_clear_face_landmarks,
    MESHTALK_OT_load_audio,
    MESHTALK_OT_make_arkit_keys,
    MESHTALK_OT_make_variants,
    MESHTALK_OT_remove_animation,
    MESHTALK_OT_remove_take,
    MESHTALK_OT_keep_playing_takes,
    MESHTALK_OT_resample_frames,
    MESHTALK_OT_resample_upper_face,
)
