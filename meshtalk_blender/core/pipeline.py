"""animate(audio, model, options) -> Animation: the whole road from sound to vertices.

Work goes in chunks of model frames, so memory stays bounded for any length:
  audio samples -> log-mel -> audio codes (encoder) -> labels (sampler, CPU)
  -> vertices (decoder, LSTM state carried; for a seed other than 0 the lips are decoded
  from seed 0's draws beside them: the lip lock) -> smoothing -> output fps -> the jaw
  to the lips' opening heard through the speech encoder -> lips apart in speech where
  no contact is heard -> lower lip tucked on f/v -> mouth to its
  closed rest in pauses and on p/b/m.
A worker thread runs the encoder and the sampler one chunk ahead of the decoder (the
sampler releases the GIL), so on a 2-core CPU they overlap.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np
import torch

from . import audio
from .checkpoints import LoadedModel
from .defaults import MAX_SEED
from .device import choose_device, is_gpu_failure
from .errors import MeshTalkError
from .model.config import MODEL_FPS
from .lip_gap import FOLLOW_CLOSING, FOLLOW_OPENING, gaps_at, smoothed_gaps
from .lip_parting import closure_allowance, parting_rig, quiet_weights
from .lip_tuck import scores_of_probabilities, tuck_rig, tuck_scores, tuck_weights
from .model.lip_closure import (ENVELOPE_REACH, EventDetector, closure_envelope, closure_probabilities, frame_maxima,
                                 seal_weights, speech_event_probabilities)
from .model.speech_encoder import SpeechEncoder, encode_clip
from .model.meshtalk import clip_mel_statistics, codes_in_window, log_mel_window
from .pauses import clip_levels_db, rest_mouth, rest_weights_of_levels
from .sampling import AUDIO_HEADS_SEED, PriorSampler, draws, seed_draws
from .timeline import FpsResampler, TemporalSmoother

CHUNK_FRAMES = 150  # model frames per chunk (5 s): bounded memory, overlap, little overhead
# The model's own mouth, before the lip contacts, is smoothed along time by a Gaussian of
# this sigma (frames), blended in by the "mouth" mask. Unsmoothed, its inner-lip gap moved
# more in one frame than the teacher's ever does on the same clip on 3.3 frames a minute
# of the real-speech report's English clean clips (5.4 a minute with the contacts'),
# read as pops. Sigma 0.6 / 0.8 / 1.0 / 1.3 gave 3.5 / 2.9 / 2.0 / 1.4 pops a minute, r
# of the gap 0.676 / 0.678 / 0.680 / 0.682 (0.673 without), p/b/m sealed 90.9 / 90.9 /
# 90.9 / 90.6 % (91.7 %) and the teeth over the tucked lip on 60 / 59 / 59 / 55 % of f/v
# (60 %): the model's own one-frame closures soften, the detector's seals do not.
MOUTH_SMOOTHING_SIGMA = 1.0
MIN_FPS, MAX_FPS = 1.0, 240.0


_threads_lock = threading.Lock()
_threads_holders = 0
_threads_outside = 0  # torch's thread count before the first holder


@contextlib.contextmanager
def sampler_core(device: torch.device) -> Iterator[None]:
    """For torch work on the CPU beside a run: one torch thread fewer while any such block
    is open, as the prior's sampler keeps a core busy and a second torch thread would only
    fight it. The count is process-wide and torch's sums differ in their last bits with
    another count, so everything that runs torch beside a run (the run's own encoder and
    detectors, core.clip_analysis's tongue detector) does so inside such a block: with the
    tongue detector outside it, the demo's tongue keys differed by up to 6e-7 between runs,
    depending on whether the run had started (under load). The count outside any block
    comes back when the last one closes. Other devices: nothing changes."""
    global _threads_holders, _threads_outside
    if device.type != "cpu":
        yield
        return
    with _threads_lock:
        if _threads_holders == 0:
            _threads_outside = torch.get_num_threads()
            if _threads_outside > 1:
                torch.set_num_threads(_threads_outside - 1)
        _threads_holders += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_holders -= 1
            if _threads_holders == 0:
                torch.set_num_threads(_threads_outside)


class Cancelled(Exception):
    """Raised inside a run when its ``should_cancel`` callback returned True."""


@dataclass(frozen=True)
class AnimateOptions:
    fps: float = 30.0
    seed: int = 0
    # 0: always the most likely label; None: the model's own (``LoadedModel.temperature``).
    temperature: float | None = None
    device: str = "auto"
    # Keep these latent labels (K, H) where keep_mask is True; draw the rest.
    keep_labels: np.ndarray | None = None
    keep_mask: np.ndarray | None = None
    chunk_frames: int = CHUNK_FRAMES
    # Close the mouth to the template's rest in pauses (core.pauses); needs the model's
    # "mouth" vertex mask (the bundled model has one; the original release does not).
    rest_in_pauses: bool = True
    # Close the lips where the model's lip-closure detector hears a p, b or m, tuck the
    # lower lip where its lip-tuck detector hears an f or v, and keep the lips apart in
    # speech where it hears neither (core.model.lip_closure, core.lip_tuck,
    # core.lip_parting); needs the detectors and the "mouth" mask (the bundled model; the
    # tuck and the parting also its head).
    seal_lips: bool = True
    # Give every seed the lips of seed AUDIO_HEADS_SEED (``lip_lock``), so that a seed
    # redraws the upper face only; needs the "mouth" mask. Off, a seed moves the lips a
    # little too (a redraw asked not to keep them).
    lock_lips: bool = True

    def validate(self, num_model_frames: int | None = None, num_heads: int | None = None) -> None:
        """Refuses options no run can use (checked before any work: NaN fails every range
        test below); with the clip's frame count and the model's heads, also the latent to
        keep."""
        if not MIN_FPS <= self.fps <= MAX_FPS:
            raise MeshTalkError(f"fps must be between {MIN_FPS:g} and {MAX_FPS:g} (got {self.fps:g}).")
        if self.temperature is not None and not 0.0 <= self.temperature <= 10.0:
            raise MeshTalkError(f"temperature must be between 0 and 10 (got {self.temperature:g}).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed <= MAX_SEED:
            raise MeshTalkError(f"The seed must be a whole number from 0 to {MAX_SEED} (got {self.seed}); "
                                "pick one in that range.")
        if (self.keep_mask is None) != (self.keep_labels is None):
            raise MeshTalkError("keep_labels and keep_mask go together.")
        if self.keep_mask is not None and num_model_frames is not None:
            expected = (num_model_frames, num_heads)
            if self.keep_mask.shape != expected or self.keep_labels.shape != expected:
                raise MeshTalkError(
                    f"The latent to keep has shape {self.keep_labels.shape}, but this audio and model need "
                    f"{expected}; it belongs to a different clip. Animate again without resampling."
                )


@dataclass
class Animation:
    vertices: np.ndarray  # (N, V, 3) float32 at `fps`, in the template's space
    fps: float
    labels: np.ndarray  # (K, H) int64 latent labels at the model's 30 fps
    seed: int
    temperature: float
    duration: float  # seconds of audio


ProgressCallback = Callable[[float], None]
CancelCallback = Callable[[], bool]


class HeardContact:
    """Blend weights (K,) of one lip contact (the seal of p/b/m, the tuck of f/v) where its
    detector hears it, filled by the worker chunk by chunk before it hands the chunk over:
    frame by frame, and with each contact's approach and release. The latter, final up to
    ENVELOPE_REACH frames behind the worker, is what is blended (the consumer reads no
    further: the smoother holds back more frames than that)."""

    def __init__(self, detector: EventDetector, count: int, weights_of: Callable[[np.ndarray], np.ndarray],
                 scores_of: Callable = closure_probabilities, columns: tuple[int, ...] = ()):
        """``scores_of(detector, window, times)``: (n, *columns) per frame (by default the
        probability of the detector's event); ``weights_of``: those -> (n, *columns) weights."""
        self.detector = detector
        self.weights_of = weights_of
        self.scores_of = scores_of
        self.frame_weights = np.zeros((count,) + columns, np.float32)
        self.weights = np.zeros((count,) + columns, np.float32)

    def hear(self, window, times: np.ndarray, start: int, end: int) -> None:
        """Model frames [start, end) at ``times`` (s), from their log-mel ``window``."""
        self.frame_weights[start:end] = self.weights_of(self.scores_of(self.detector, window, times))
        first = max(0, start - ENVELOPE_REACH)
        final = end if end == len(self.weights) else end - ENVELOPE_REACH
        if final > first:
            self.weights[first:final] = closure_envelope(self.frame_weights, first, final)


# The share of a run's progress bar that hearing the clip through the speech encoder
# takes: measured with the bundled model on this project's 2-core CPU, 600 s of audio
# heard in 11.6 s of a 15.6 s run (the sampler overlaps nothing of it).
HEARING_SHARE = 0.7


@dataclass(frozen=True)
class Hearing:
    """The worker's word on how much of the clip it has heard (0-1), before any chunk."""

    fraction: float


class HeardInSpeech:
    """What detectors that read the speech encoder's features (not the model's log-mel
    windows) hear over a whole clip, heard once before sampling: the encoder attends over
    up to 24 s at a time (``speech_encoder.encode_clip``), so its features cannot be made
    chunk by chunk with the model's windows."""

    def __init__(self, encoder: SpeechEncoder, detectors: list[EventDetector]):
        self.encoder = encoder
        self.detectors = detectors
        self.scores: dict[int, np.ndarray] = {}  # id(detector) -> (E, M) at the mel rate (EventDetector.scores)
        self.gaps: dict[int, np.ndarray] = {}  # id(regressor) -> (M,) its gaps smoothed (core.lip_gap)

    def listen(self, info: audio.ClipInfo, should_stop: Callable[[], bool],
               progress: Callable[[float], None] | None = None) -> None:
        features = encode_clip(self.encoder, audio.NormalisedSamples(info).get, info.num_samples,
                               should_cancel=should_stop, progress=progress)
        for detector in self.detectors:
            self.scores[id(detector)] = speech_event_probabilities(detector, features)

    def closure_probabilities(self, detector: EventDetector, window, times: np.ndarray) -> np.ndarray:
        """(T,) as ``lip_closure.closure_probabilities`` (``window`` unused)."""
        return frame_maxima(self.scores[id(detector)][0], 0, times)

    def tuck_scores(self, detector: EventDetector, window, times: np.ndarray) -> np.ndarray:
        """(T, 2) as ``lip_tuck.tuck_scores`` (``window`` unused)."""
        return scores_of_probabilities(self.scores[id(detector)], 0, times)

    def gaps_mm(self, regressor: EventDetector, times: np.ndarray) -> np.ndarray:
        """(T,) the inner-lip gaps (mm) a ``core.lip_gap`` regressor hears at ``times`` (s)."""
        if id(regressor) not in self.gaps:
            self.gaps[id(regressor)] = smoothed_gaps(self.scores[id(regressor)][0])
        return gaps_at(self.gaps[id(regressor)], times)


class AnimationRun:
    """One animation of one clip. ``chunks()`` yields output frames as they are made."""

    def __init__(self, loaded: LoadedModel, clip: audio.AudioClip | audio.ClipInfo, options: AnimateOptions,
                 template: np.ndarray | None = None, statistics: audio.MelStatistics | None = None):
        """``statistics``: the audio normalisation's, when ``clip`` is part of a longer
        clip whose statistics the animation must share (a partial redraw); by default
        the clip's own."""
        self.loaded = loaded
        if options.temperature is None:  # the model's own, recorded in the Animation as any other
            options = replace(options, temperature=loaded.temperature)
        self.options = options
        self.statistics = statistics
        options.validate()  # before the audio is read: a bad fps would break the frame counts
        self.info = clip if isinstance(clip, audio.ClipInfo) else audio.probe(clip)
        self.num_model_frames = audio.frame_count(self.info.duration, MODEL_FPS)
        self.num_output_frames = audio.frame_count(self.info.duration, options.fps)
        config = loaded.config
        options.validate(self.num_model_frames, config.num_heads)
        self.template = loaded.template if template is None else np.asarray(template, dtype=np.float32)
        if self.template.shape != (config.num_vertices, 3):
            raise MeshTalkError(
                f"The template has {len(self.template)} vertices; this model animates {config.num_vertices}."
            )
        self.labels = np.zeros((self.num_model_frames, config.num_heads), dtype=np.int64)
        self.uniforms = seed_draws(options.seed, self.num_model_frames, config.num_heads, loaded.mouth_heads)
        self.mouth_mask = loaded.vertex_masks.get("mouth")
        has_mouth = self.mouth_mask is not None
        # The lips of any seed are those of the same run drawn with AUDIO_HEADS_SEED's
        # draws (the same kept labels, and this run's mouth-head labels): decoded beside
        # the run's own and blended in by ``lip_lock``. The mouth heads alone keep two
        # seeds' lips within 0.07 mm on average, but the decoder lets the upper heads move
        # them by up to 3 mm (measured on real speech with a model that has mouth heads;
        # a model without them, 7 mm). For that seed itself the reference is the run.
        locked = options.lock_lips and has_mouth and options.seed != AUDIO_HEADS_SEED
        self.lip_lock = lip_lock(self.mouth_mask) if locked else None
        self.reference_uniforms = draws(AUDIO_HEADS_SEED, self.num_model_frames, config.num_heads) if locked else None
        # The mouth blends to the template's closed rest by the larger of two weights
        # (K,): in pauses (set by the worker before its first chunk) and on p/b/m (set by
        # the worker chunk by chunk, before it hands the chunk over); before that, the
        # lower lip tucks on f/v (core.lip_tuck; a seal wins where both are heard), and
        # before that the lips part in speech where the closure detector hears no p/b/m
        # (core.lip_parting).
        self.pause_weights: np.ndarray | None = None
        self.quiet_weights: np.ndarray | None = None  # where the lips need not part (core.lip_parting)
        self.rest_in_pauses = options.rest_in_pauses and has_mouth
        contacts = options.seal_lips and has_mouth
        closure = loaded.lip_closure if contacts else None
        self.tuck_rig = tuck_rig(len(self.template)) if contacts and loaded.lip_tuck is not None else None
        tuck = loaded.lip_tuck if self.tuck_rig is not None else None
        self.parting_rig = parting_rig(len(self.template)) if closure is not None else None
        # The jaw follows the lips' opening heard through the speech encoder (core.lip_gap)
        # by the parting's rig, before the contacts.
        self.lip_gap = loaded.lip_gap if self.parting_rig is not None else None
        speech_readers = [d for d in (closure, tuck, self.lip_gap) if d is not None and d.inputs == "speech"]
        heard = self.heard_in_speech = HeardInSpeech(loaded.speech_encoder, speech_readers) if speech_readers else None
        closure_scores = heard.closure_probabilities if closure in speech_readers else closure_probabilities
        self.seal = (HeardContact(closure, self.num_model_frames,
                                  functools.partial(seal_weights, thresholds=closure.thresholds), closure_scores)
                     if closure is not None else None)
        # The same probabilities as the seal's, weighed otherwise (a log-mel detector is run
        # twice per chunk for it: the 256-channel one of earlier bundles 7 ms per 5 s chunk).
        self.closable = (HeardContact(closure, self.num_model_frames, closure_allowance, closure_scores)
                         if self.parting_rig is not None else None)
        self.tuck = (HeardContact(tuck, self.num_model_frames, tuck_weights,
                                  heard.tuck_scores if tuck in speech_readers else tuck_scores, columns=(2,))
                     if tuck is not None else None)

    def chunks(self, progress: ProgressCallback | None = None, should_cancel: CancelCallback | None = None,
               device: torch.device | None = None) -> Iterator[np.ndarray]:
        """Yields (n, V, 3) float32 output frames; all chunks together are the animation."""
        device = device or choose_device(self.options.device)
        model = self.loaded.model.to(device).eval()
        for detector in (*(c.detector for c in (self.seal, self.tuck, self.closable) if c is not None), self.lip_gap):
            if detector is not None:
                detector.to(device).eval()
        if self.heard_in_speech is not None:
            self.heard_in_speech.encoder.to(device).eval()
        resampler = FpsResampler(self.options.fps, self.num_output_frames)
        # The mouth's closed rest is blended in at the output rate, by weights resampled
        # to keep their peaks: a closure one model frame long (a p/b/m) blended at 30 fps
        # and then interpolated to 24 fps would come out half closed on most frames.
        closing_resampler = FpsResampler(self.options.fps, self.num_output_frames, keep_peaks=True)
        tucking_resampler = FpsResampler(self.options.fps, self.num_output_frames, keep_peaks=True)
        closable_resampler = FpsResampler(self.options.fps, self.num_output_frames, keep_peaks=True)
        smoothing = self.loaded.vertex_masks.get("smoothing")
        if smoothing is None and (self.seal is not None or self.tuck is not None or self.mouth_mask is not None):
            # A smoother that smooths nothing but the mouth, for its delay too: a closure's
            # approach needs the seal weights of frames the decoder has not reached yet.
            smoothing = np.zeros(len(self.template), np.float32)
        lighter = (self.mouth_mask, MOUTH_SMOOTHING_SIGMA) if self.mouth_mask is not None else None
        smoother = TemporalSmoother(smoothing, lighter=lighter) if smoothing is not None else None
        assert (self.seal is None and self.tuck is None) or smoother.radius >= ENVELOPE_REACH
        stop = threading.Event()
        labelled: queue.Queue = queue.Queue(maxsize=2)
        worker = threading.Thread(target=self._encode_and_sample, args=(model, device, labelled, stop), daemon=True)
        # Entered before the worker starts: its encoder's sums depend on the thread count.
        with sampler_core(device):
            try:
                worker.start()
                with torch.inference_mode():
                    encoding = model.decoder.encode_template(torch.from_numpy(self.template).to(device)[None, None])
                    state = reference_state = None
                    done = 0
                    ready = 0  # model frames handed to the resampler
                    shown = 0  # output frames made
                    while done < self.num_model_frames:
                        item = next_item(labelled, should_cancel)
                        if isinstance(item, BaseException):
                            raise item
                        if isinstance(item, Hearing):
                            if progress is not None:
                                progress(HEARING_SHARE * item.fraction)
                            continue
                        start, labels, reference_labels = item
                        vertices, state = model.decoder.decode_labels(
                            encoding, torch.from_numpy(labels).to(device)[None], state
                        )
                        frames = vertices[0].float().cpu().numpy()
                        if reference_labels is not None:
                            reference, reference_state = model.decoder.decode_labels(
                                encoding, torch.from_numpy(reference_labels).to(device)[None], reference_state
                            )
                            frames += self.lip_lock[None, :, None] * (reference[0].float().cpu().numpy() - frames)
                        done = start + len(labels)
                        last = done >= self.num_model_frames
                        # A damaged model's NaN or overflow passes through quietly (numpy would warn
                        # on stderr) and is refused just below with the user's message.
                        with np.errstate(over="ignore", invalid="ignore"):
                            if smoother is not None:  # it delays the stream: its frames start at ``ready``
                                frames = smoother.push(frames, last)
                            closing = self._mouth_weights(ready, ready + len(frames))
                            tucking = self._tuck_weights(ready, ready + len(frames))
                            closable = self._closable_weights(ready, ready + len(frames))
                            ready += len(frames)
                            out = resampler.push(frames, last)
                            if closable is not None:
                                closable = closable_resampler.push(closable, last)
                                if self.lip_gap is not None:
                                    times = np.arange(shown, shown + len(out)) / self.options.fps
                                    out = self.parting_rig.follow(out, self.heard_in_speech.gaps_mm(self.lip_gap, times),
                                                                  FOLLOW_OPENING, FOLLOW_CLOSING, closable[:, 1])
                                out = self.parting_rig.part(out, 1.0 - closable[:, 0])
                            shown += len(out)
                            if tucking is not None:
                                tucking = tucking_resampler.push(tucking, last)
                                out = self.tuck_rig.tuck(out, self.template, self.mouth_mask,
                                                         tucking[:, 0], tucking[:, 1])
                            if closing is not None:
                                out = rest_mouth(out, self.template, self.mouth_mask, closing_resampler.push(closing, last))
                        if not np.isfinite(out).all():  # never hand NaN vertices to a file or a mesh
                            raise MeshTalkError(
                                f"The model produced invalid numbers (NaN or infinity) by {done / MODEL_FPS:.2f} s of the "
                                "audio; the checkpoint is damaged or does not fit this audio. Nothing was written: use "
                                "the model's files as downloaded, or another model.")
                        if progress is not None:
                            share = HEARING_SHARE if self.heard_in_speech is not None else 0.0
                            progress(share + (1.0 - share) * done / self.num_model_frames)
                        if len(out):
                            yield out
            finally:
                stop.set()
                while worker.is_alive():  # unblock a worker waiting on a full queue
                    try:
                        labelled.get(timeout=0.05)
                    except queue.Empty:
                        pass

    def _mouth_weights(self, start: int, stop: int) -> np.ndarray | None:
        """(stop - start,) weights of the mouth's closed rest, or None: nothing to close."""
        sealing = self.seal.weights if self.seal is not None else None
        resting = self.pause_weights if self.rest_in_pauses else None
        parts = [w[start:stop] for w in (resting, sealing) if w is not None]
        return np.maximum.reduce(parts) if parts else None

    def _closable_weights(self, start: int, stop: int) -> np.ndarray | None:
        """(stop - start, 2) how far the lips may meet (1: a pause, or a p/b/m may be heard
        there; 0: speech with none, the lips part) and the seal's weights (where the heard
        gap must not open the mouth, core.lip_gap); or None: no parting."""
        if self.closable is None:
            return None
        return np.stack([np.maximum.reduce([w[start:stop] for w in (self.pause_weights, self.quiet_weights,
                                                                     self.closable.weights)]),
                         self.seal.weights[start:stop]], axis=1)

    def _tuck_weights(self, start: int, stop: int) -> np.ndarray | None:
        """(stop - start, 2) weights of the f/v tuck and of its upper lip's lift, or None.
        The lift also gives way to a p/b/m heard at the same time: a partial seal must
        still bring the upper lip down."""
        if self.tuck is None:
            return None
        tucking = self.tuck.weights[start:stop].copy()
        if self.seal is not None:
            tucking[:, 1] *= 1.0 - self.seal.weights[start:stop]
        return tucking

    def _reference_keep(self, labels: np.ndarray, kept: np.ndarray | None,
                        keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, mask) (n, H) that the lips' reference keeps: what the run keeps, and
        the run's own labels of the mouth heads."""
        mask = np.zeros(labels.shape, bool) if keep is None else keep.copy()
        values = np.zeros_like(labels) if kept is None else kept.copy()
        heads = list(self.loaded.mouth_heads)
        mask[:, heads] = True
        values[:, heads] = labels[:, heads]
        return values, mask

    def _encode_and_sample(self, model, device, labelled: queue.Queue, stop: threading.Event) -> None:
        try:
            statistics = self.statistics
            if statistics is None:
                with torch.inference_mode():  # an extra pass over the audio, only if the model needs it
                    statistics = clip_mel_statistics(model, audio.NormalisedSamples(self.info).get,
                                                     self.info.num_samples)
            if self.rest_in_pauses or self.closable is not None:
                levels = clip_levels_db(self.info, self.num_model_frames, MODEL_FPS)
                self.pause_weights = rest_weights_of_levels(levels, MODEL_FPS)
                self.quiet_weights = quiet_weights(levels)
            if self.heard_in_speech is not None:
                self.heard_in_speech.listen(self.info, stop.is_set, lambda fraction: labelled.put(Hearing(fraction)))
            samples = audio.NormalisedSamples(self.info)
            sampler = PriorSampler(model.prior)
            state = sampler.start()
            reference = sampler.start() if self.reference_uniforms is not None else None
            options = self.options
            step = max(1, options.chunk_frames)
            with torch.inference_mode():
                for start in range(0, self.num_model_frames, step):
                    if stop.is_set():
                        return
                    end = min(start + step, self.num_model_frames)
                    times = np.arange(start, end) / MODEL_FPS
                    window = log_mel_window(model, samples.get, times, statistics)
                    codes = codes_in_window(model, window, times).float().cpu().numpy()
                    for contact in (self.seal, self.tuck, self.closable):
                        if contact is not None:
                            contact.hear(window, times, start, end)
                    keep = options.keep_mask[start:end] if options.keep_mask is not None else None
                    kept = options.keep_labels[start:end] if options.keep_labels is not None else None
                    labels = sampler.sample(state, codes, self.uniforms[start:end], options.temperature, kept, keep)
                    self.labels[start:end] = labels
                    reference_labels = None
                    if reference is not None:
                        reference_labels = sampler.sample(reference, codes, self.reference_uniforms[start:end],
                                                          options.temperature, *self._reference_keep(labels, kept, keep))
                    labelled.put((start, labels, reference_labels))
        except BaseException as error:  # handed to the consumer, which re-raises it
            labelled.put(error)


def next_item(labelled: queue.Queue, should_cancel: CancelCallback | None, poll_s: float = 0.1):
    """The worker's next item, checking ``should_cancel`` before it and every ``poll_s``
    while waiting: before its first chunk the worker may be hearing a long clip through
    the speech encoder (600 s of audio: 11.6 s on this project's CPU), and Esc must not wait for that."""
    while True:
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        try:
            return labelled.get(timeout=poll_s)
        except queue.Empty:
            pass


def lip_lock(mouth: np.ndarray) -> np.ndarray:
    """(V,) weights of the lips' reference from the (V,) mouth mask: wholly where the
    mask is at least half (the lips and the skin around them), fading out to the cheeks."""
    return np.clip(2.0 * np.asarray(mouth, np.float32), 0.0, 1.0)


def animate(loaded: LoadedModel, clip: audio.AudioClip | audio.ClipInfo, options: AnimateOptions = AnimateOptions(),
            template: np.ndarray | None = None, progress: ProgressCallback | None = None,
            should_cancel: CancelCallback | None = None, notify: Callable[[str], None] | None = None) -> Animation:
    """The whole animation in memory. A GPU failure (out of memory, driver) falls back to
    the CPU once, with a message through ``notify``."""
    run = AnimationRun(loaded, clip, options, template)

    def collect(device: torch.device) -> np.ndarray:
        parts = list(run.chunks(progress, should_cancel, device))
        return np.concatenate(parts) if parts else np.zeros((0, len(run.template), 3), np.float32)

    vertices = run_with_cpu_fallback(collect, choose_device(options.device), notify)
    return Animation(vertices, options.fps, run.labels.copy(), options.seed, run.options.temperature,
                     run.info.duration)


def run_with_cpu_fallback(work: Callable[[torch.device], object], device: torch.device,
                          notify: Callable[[str], None] | None = None):
    try:
        return work(device)
    except (RuntimeError, MemoryError) as error:
        if device.type == "cpu" or not is_gpu_failure(error):
            raise
        message = f"The {device.type.upper()} device failed ({str(error).splitlines()[0]}); running on the CPU instead."
        if notify is not None:
            notify(message)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return work(torch.device("cpu"))
