"""The teacher: one utterance -> ARKit-52 weights at 30 fps, and the events behind them.

The lower face follows the phonemes (visemes, coarticulation, bilabial seals) scaled by
the audio's loudness; the upper face is a set of random processes that the audio only
nudges (blinks favour pauses, brow raises favour pitch accents). Everything random
draws from its own stream of the sequence seed, so the same (utterance, seed) always
gives the same animation, and changing one process does not reshuffle the others.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from ...core.audio import frame_count
from ...core.brows import BrowEvent, brow_weights
from ...core.face import ARKIT_NAMES
from ...core.model.config import MODEL_FPS
from ...core.prosody import PitchAccent, pitch_accents
from ..speech.utterance import Utterance
from .blinks import Blink, blink_weights, draw_blinks
from .brows import draw_brow_events
from .closures import Contact, contact_track, lip_contacts
from .coarticulation import articulator_tracks, viseme_segments
from .gaze import Saccade, draw_saccades, gaze_weights
from .mouth import mouth_weights
from .prosody import pitch_semitones, segment_loudness
from .squints import squint_weights
from .style import Style, draw_style
from .visemes import SEAL, TUCK

GAZE_BLINK_AMPLITUDE = 12.0  # degrees: larger gaze shifts often come with a blink
GAZE_BLINK_PROBABILITY = 0.35


def random_stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for one random process of one sequence."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def frame_times(duration: float) -> np.ndarray:
    """(T,) times k / 30 s of the frames covering [0, duration] (the model's clock)."""
    return np.arange(frame_count(duration, MODEL_FPS)) / MODEL_FPS


def loudness_scales(relative_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-phoneme loudness (dB re loud speech) -> (jaw scale, lip scale): a phoneme
    10 dB softer opens the jaw a quarter less (JALI: the jaw follows loudness)."""
    jaw = np.clip(1.0 + 0.025 * relative_db, 0.55, 1.12)
    return jaw, 0.7 + 0.3 * jaw


@dataclass
class TeacherAnimation:
    arkit: np.ndarray  # (T, 52) float32 in [0, 1], ARKIT_NAMES order
    frame_times: np.ndarray  # (T,) s, frame k at k / 30
    style: Style
    contacts: list[Contact] = field(default_factory=list)
    blinks: list[Blink] = field(default_factory=list)
    accents: list[PitchAccent] = field(default_factory=list)
    brow_events: list[BrowEvent] = field(default_factory=list)
    saccades: list[Saccade] = field(default_factory=list)
    squints: list[dict] = field(default_factory=list)

    def events(self) -> dict:
        """Every event as plain lists of dicts (JSON-friendly)."""
        return {
            "contacts": [c._asdict() for c in self.contacts],
            "blinks": [b._asdict() for b in self.blinks],
            "accents": [a._asdict() for a in self.accents],
            "brow_events": [e._asdict() for e in self.brow_events],
            "saccades": [s._asdict() for s in self.saccades],
            "squints": list(self.squints),
        }


def animate(utterance: Utterance, seed: int, style: Style | None = None,
            analysis_audio: np.ndarray | None = None) -> TeacherAnimation:
    """ARKit weights for ``utterance`` (its phonemes and 16 kHz audio).

    ``style`` defaults to one drawn from the seed. ``analysis_audio`` (N,) replaces the
    utterance's audio for loudness and pitch analysis: pass the clean audio when the
    utterance carries an augmented (noisy, filtered) copy with the same timing, so the
    face does not change with the noise.
    """
    style = draw_style(random_stream(seed, "style")) if style is None else style
    audio = utterance.audio if analysis_audio is None else analysis_audio
    phonemes = utterance.phonemes
    duration = utterance.duration
    times = frame_times(duration)

    segments = viseme_segments(phonemes)
    jaw_scale, lip_scale = loudness_scales(segment_loudness(audio, phonemes))
    owner = np.array([segment.phoneme_index for segment in segments])
    tracks = articulator_tracks(segments, times, jaw_scale[owner], lip_scale[owner], style.articulation)
    contacts = lip_contacts(phonemes)
    lower = mouth_weights(tracks, contact_track(contacts, SEAL, times), contact_track(contacts, TUCK, times),
                          style.jaw_gain, style.smile)

    saccades = draw_saccades(random_stream(seed, "gaze"), phonemes, duration,
                             style.fixation_median, style.gaze_aversion)
    gaze_rng = random_stream(seed, "gaze-blinks")
    triggered = np.array([s.time for s in saccades[1:] if s.amplitude > GAZE_BLINK_AMPLITUDE
                          and gaze_rng.random() < GAZE_BLINK_PROBABILITY])
    blinks = draw_blinks(random_stream(seed, "blinks"), phonemes, duration, style.blink_rate, triggered)

    pitch_times, semitones = pitch_semitones(audio, phonemes)
    accents = pitch_accents(pitch_times, semitones)
    brow_events = draw_brow_events(random_stream(seed, "brows"), phonemes, accents,
                                   style.expressiveness, style.accent_follow)
    squints, squint_events = squint_weights(random_stream(seed, "squints"), times, duration,
                                            style.expressiveness)

    arkit = lower + blink_weights(blinks, times) + brow_weights(brow_events, times) \
        + gaze_weights(saccades, times) + squints
    assert arkit.shape == (len(times), len(ARKIT_NAMES))
    return TeacherAnimation(
        arkit=np.clip(arkit, 0.0, 1.0).astype(np.float32),
        frame_times=times,
        style=style,
        contacts=contacts,
        blinks=blinks,
        accents=accents,
        brow_events=brow_events,
        saccades=saccades,
        squints=squint_events,
    )
