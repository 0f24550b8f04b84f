"""The teacher: the face motion an animator would key for an utterance, on the bundled head.

Training data for MeshTalk needs speech with faces; no public 4D data can be used, so
this package animates synthetic speech (training.speech) through the head's ARKit-52
rig, at the model's clock (30 fps, frame k at k / 30 s). Pure numpy/scipy (and librosa's
YIN), seeded and deterministic: the same utterance and seed give the same frames.

Lower face (follows the phonemes, language independent via IPA features):
    visemes        phoneme -> targets/dominances of five articulators (jaw, lip_open,
                   pucker, funnel, spread) and the lip contact it makes (seal, tuck)
    coarticulation Cohen-Massaro dominance blending -> (T, 5) articulator tracks
    closures       exactly timed bilabial seals and labiodental tucks
    prosody        per-phoneme loudness (JALI: jaw follows loudness), F0, pitch accents
    mouth          articulators + contacts -> ARKit jaw and mouth weights
Upper face (random processes the audio only nudges):
    blinks         rate per speaker, more in pauses and after phrases, fast close,
                   slower open, some incomplete
    brows          raises on pitch accents, free raises, raises in pauses, frowns
    gaze           fixations and saccades, looking away more as phrases start
    squints        small eye narrowings
Shared:
    style          per-sequence style (blink rate, articulation, jaw, expressiveness...)
    envelopes      pulses and random event times
    activity       speech and pause intervals from the phoneme labels

API
    animate(utterance, seed, style=None, analysis_audio=None) -> TeacherAnimation
        arkit (T, 52) float32 in ARKIT_NAMES order, frame_times (T,), style and every
        event (contacts, blinks, accents, brow_events, saccades, squints).
    teacher_sequence(utterance, seed, analysis_audio=None) -> TeacherSequence
        the animation played on the identity drawn from the seed: identity, template
        (V, 3) and vertices (T, V, 3) float32, metres.
"""
from .animate import TeacherAnimation, animate, frame_times
from .sequence import TeacherSequence, teacher_sequence
from .style import Style, draw_style

__all__ = ["Style", "TeacherAnimation", "TeacherSequence", "animate", "draw_style", "frame_times",
           "teacher_sequence"]
