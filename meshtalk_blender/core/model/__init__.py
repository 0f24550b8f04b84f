"""MeshTalk's modules, one per file, assembled in ``meshtalk``; sizes in ``config``."""

from .config import MeshTalkConfig
from .meshtalk import MeshTalk

__all__ = ["MeshTalk", "MeshTalkConfig"]
