"""A teacher sequence: the animation played on a randomly drawn identity of the head."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.face import IdentityParams, apply_arkit, arkit_deltas, build_head, sample_identity
from ..speech.utterance import Utterance
from .animate import TeacherAnimation, animate, random_stream


@dataclass
class TeacherSequence:
    animation: TeacherAnimation
    identity: IdentityParams
    template: np.ndarray  # (V, 3) float32: the identity's neutral face
    vertices: np.ndarray  # (T, V, 3) float32 at 30 fps, metres


def teacher_sequence(utterance: Utterance, seed: int,
                     analysis_audio: np.ndarray | None = None) -> TeacherSequence:
    """Animate ``utterance`` and play it on the identity drawn from ``seed``."""
    animation = animate(utterance, seed, analysis_audio=analysis_audio)
    identity = sample_identity(random_stream(seed, "identity"))
    head = build_head(identity)
    vertices = apply_arkit(head, animation.arkit, arkit_deltas(head))
    return TeacherSequence(animation, identity, head.vertices.copy(), vertices)
