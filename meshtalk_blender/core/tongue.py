"""The tongue's articulation, heard from the audio: where its tip and back must be.

The model animates the face's surface, which has no tongue, so the bundled head's tongue
lay on the mouth's floor through every "the", "tea" and "go". A small detector (the lip
seal's network, ``model.lip_closure.EventDetector``, with three outputs) reads the same
normalised log-mel and gives each 10 ms the probability of three places of articulation,
trained on the corpus's phoneme timings (``training.tongue``):

- ``tongueTipUp``: the tip up to the ridge behind the upper teeth (t, d, n, l, s, z);
- ``tongueDental``: the tip forward between the teeth (the two "th");
- ``tongueBackUp``: the back raised to the soft palate (k, g, ng).

Each becomes a weight per output frame with an approach and a release (a tongue moves
about as fast as lips do: ``TONGUE_APPROACH_S``), keyed on the head's controls of the
same names that the tongue's shape keys follow (``face.mouth_parts``). The track depends
on the audio alone: every seed, and every redraw of the upper face, has the same tongue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import audio
from .face.arkit_names import TONGUE_KEYS
from .model.config import MEL_HOP
from .model.lip_closure import EventDetector, closure_envelope, frame_maxima, load_detector

TONGUE_FILE = "tongue.safetensors"
# A "th" shows the tip between the teeth: on a target with only ARKit's keys, this much
# tongueOut (ARKit's tongueOut at 1 is the tongue fully out).
DENTAL_TONGUE_OUT = 0.3
# The tip reaches the ridge in about 50-80 ms and leaves as fast; the detector fires on
# the consonant itself, so the approach starts before it.
TONGUE_APPROACH_S = 0.08
TONGUE_RELEASE_S = 0.08
# Probabilities -> weights: nothing below TONGUE_FROM, fully from TONGUE_FULL, in
# TONGUE_KEYS order. Higher than the lip seal's 0.3 / 0.6: on real voices the detector
# fires more than on the synthetic ones. On the 12 recordings of pocketsphinx-testdata
# the tip's probability passes 0.5 on 22 % of the frames more than 0.1 s from any
# t/d/n/l/s/z (mostly f, v, m, where the lips hide the tongue) and 0.85 on 10 %, while
# still passing 0.85 on 87 % of them (k/g: 3 % and 90 %). A "th" shows the tongue
# between the teeth, so a false one is seen: on the real-speech report's English clips
# (Drascula's voices, 11 kHz) 0.3 / 0.6 keyed 70 % of 115 "th" and 9.1 % of the frames
# away from any, 0.5 / 0.8 62 % and 5.3 %, 0.6 / 0.9 55 % and 3.5 %.
# (/work/probe/tongue_real.py, /work/probe/tongue_report.py)
TONGUE_FROM = np.array([0.7, 0.5, 0.7], np.float32)
TONGUE_FULL = np.array([0.9, 0.8, 0.9], np.float32)
BLOCK_MEL_FRAMES = 6000  # 60 s of log-mel at a time: memory stays flat for an hour of audio


class TongueDetector(EventDetector):
    """(B, 80, M) normalised log-mel -> (B, 3, M) logits, in TONGUE_KEYS order."""

    def __init__(self, width: int = 128, dilations: tuple[int, ...] = (2, 4, 8, 16), dropout: float = 0.1,
                 outputs: int = len(TONGUE_KEYS), **inputs):
        super().__init__(width, dilations, dropout, outputs, **inputs)


def load_tongue_detector(path: str | Path) -> TongueDetector:
    return load_detector(path, TongueDetector, len(TONGUE_KEYS), "tongue detector")


def clip_probabilities(detector: EventDetector, info: audio.ClipInfo) -> np.ndarray:
    """(3, M) float32 probabilities of the whole clip's mel frames (100 Hz), with the
    clip's own normalisation as the model's, computed a block at a time.

    Each block is read with ``margin`` frames of the clip on each side; at the clip's
    ends the network pads with zeros, exactly as in training on whole utterances
    (``training.lip_closure.utterance_log_mel``)."""
    window, filterbank = torch.from_numpy(audio.stft_window()), torch.from_numpy(audio.mel_filterbank())
    statistics = audio.log_mel_statistics(audio.NormalisedSamples(info).get, info.num_samples, window, filterbank)
    samples_for = audio.NormalisedSamples(info).get  # a second pass: it reads forward only
    count = 1 + max(0, info.num_samples - 1) // MEL_HOP
    margin = detector.margin
    parts = []
    with torch.inference_mode():
        for first in range(0, count, BLOCK_MEL_FRAMES):
            stop = min(count, first + BLOCK_MEL_FRAMES)
            low, high = max(0, first - margin), min(count, stop + margin)
            start, end = audio.mel_frame_span(low, high - low)
            samples = torch.from_numpy(samples_for(start, end))[None]
            log_mel = statistics.apply(audio.log_mel_uncentred(samples, window, filterbank))
            logits = detector.event_logits(log_mel.to(detector.output.weight.dtype))[0, :, first - low:stop - low]
            parts.append(torch.sigmoid(logits).float().numpy())
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(TONGUE_KEYS), 0), np.float32)


def tongue_weights(probabilities: np.ndarray, count: int, fps: float) -> np.ndarray:
    """(3, M) mel-frame probabilities -> (count, 3) float32 key weights at ``fps``: each
    frame takes the highest probability within half a frame, mapped to a weight (nothing
    below TONGUE_FROM, fully from TONGUE_FULL), with eased approaches and releases."""
    if count == 0:
        return np.zeros((0, len(TONGUE_KEYS)), np.float32)
    heard = frame_maxima(probabilities, 0, np.arange(count) / fps, fps)  # (count, 3)
    weights = np.clip((heard - TONGUE_FROM) / (TONGUE_FULL - TONGUE_FROM), 0.0, 1.0).astype(np.float32)
    out = np.stack([closure_envelope(weights[:, k], 0, count, fps, TONGUE_APPROACH_S, TONGUE_RELEASE_S)
                    for k in range(weights.shape[1])], axis=1)
    # The tip is on the ridge or between the teeth, not both (the keys add up): a "th"
    # wins, since its detector seldom fires without one, while the tip's fires on a "th"
    # too (7 of its 137 frames away from t/d/n/l/s/z on real voices were "th").
    tip, dental = TONGUE_KEYS.index("tongueTipUp"), TONGUE_KEYS.index("tongueDental")
    out[:, tip] = np.minimum(out[:, tip], 1.0 - out[:, dental])
    return out


def clip_tongue(detector: EventDetector, info: audio.ClipInfo, count: int, fps: float) -> np.ndarray:
    """(count, 3) weights of TONGUE_KEYS for a take of ``count`` frames at ``fps``."""
    return tongue_weights(clip_probabilities(detector, info), count, fps)


def with_dental_tongue_out(weights: np.ndarray, names: list[str], tongue: np.ndarray) -> np.ndarray:
    """(T, K) ARKit weights with tongueOut raised to DENTAL_TONGUE_OUT x the dental weight
    where that is more (a target without the head's tongue controls)."""
    if "tongueOut" not in names:
        return weights
    out = weights.copy()
    column = names.index("tongueOut")
    out[:, column] = np.maximum(out[:, column], DENTAL_TONGUE_OUT * tongue[:, TONGUE_KEYS.index("tongueDental")])
    return out
