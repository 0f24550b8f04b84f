"""Training the lip-closure detector (core.model.lip_closure) on the corpus's phoneme timings.

    .venv/bin/python -m meshtalk_blender.training.lip_closure --corpus /work/corpus \
        --out meshtalk_blender/assets/model/lip_closure.safetensors

(``training.bundled`` runs this as its last step, into its model folder.) Inputs are each
utterance's whole log-mel, normalised with its own statistics exactly as at inference, or
with ``--speech-encoder`` the speech encoder's features (``core.model.speech_encoder``);
targets are 1 on the mel frames inside a bilabial phoneme (``metrics.bilabial_closures``)
and 0 elsewhere. Random 2 s crops of the training voices, 16 per batch, binary cross
entropy on every frame plus the same on each bilabial's highest logit within 30 ms (the
peak term), Adam. The corpus's augmented copies (noise, reverb, EQ) are what teach it to
hear closures through a room; held-out voices measure it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from ..core import audio
from ..core.device import choose_device
from ..core.model.config import MEL_HOP, MEL_RATE
from ..core.model.lip_closure import INPUT_STEPS, SEAL_FULL, SEAL_FROM, EventDetector, LipClosureDetector, save_detector
from ..core.model.speech_encoder import SpeechEncoder, encode_clip, load_speech_encoder
from .corpus.loader import load_corpus
from .dataset import Sequence
from .metrics import bilabial_closures, frames_in

CROP_FRAMES = 200  # mel frames (2 s) per training example
SLACK_FRAMES = 3  # a detection within 30 ms of a closure counts, as the seal measure's slack


@dataclass(frozen=True)
class ClosureTrainSettings:
    steps: int = 15000
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    log_every: int = 500
    # Weight of a second term: each bilabial's highest logit within 30 ms against 1. The
    # seal needs the lips to meet on one frame of a closure, not on all of its frames,
    # and the per-frame targets alone leave short and blurred closures unheard.
    peak_weight: float = 1.0
    width: int = 128  # channels of each layer (EventDetector)
    # Targets are values, not events: mean squared error on every frame, no peak term
    # (core.lip_gap's regressor).
    regression: bool = False
    decay_after: int | None = None  # the learning rate x0.1 from this step on (None: never)


# The peak term (weight 1) on the corpus with 16 ms vocoder frames: held-out closures
# heard at 4 % / 8 % false alarms 83 % / 91 % -> 89 % / 94 % (seed 1: 86 % / 92 %);
# weight 2 heard 93 % / 96 % but fired more often on real speech too, where the lip gap
# then followed the reference at r 0.78 (see the model card).
# 15,000 steps: held-out voices' closures heard (p > SEAL_FROM within 30 ms) went from
# 72 % at 3,000 steps to 81 %; at 30,000 it overfits (71 %), and so it does with the
# learning rate x0.1 after 12,000 (73 %). A +-0.64 s receptive field with the clean
# copies of the augmented lines added reached 78 % (measured).
EVENT_SETTINGS = ClosureTrainSettings()  # every detector's recipe (the tongue's, the tuck's)
# The p/b/m detector's: 256 channels instead of 128 heard more real p/b/m at 4 % false
# alarms (held-out real English, seeds 0 / 1: 72 % / 68 % against 59 %; held-out
# synthetic voices 93.6 % both), for 1.3 MB more and 0.095 s per minute of audio
# against 0.033 s (the network alone, one thread).
SETTINGS = replace(EVENT_SETTINGS, width=256)
# The p/b/m and f/v detectors on the speech encoder's features (core.model.speech_encoder):
# 128 channels, 6,000 steps. A first such p/b/m detector heard 91.7 % of the real-speech
# report's English clean p/b/m at 2 % false alarms after 3,000 steps, against 49.6 % for
# the 256-channel log-mel one (model card: "Detectors that hear through a speech encoder").
SPEECH_SETTINGS = replace(EVENT_SETTINGS, steps=6000)


def utterance_log_mel(waveform: np.ndarray) -> torch.Tensor:
    """(80, M) log-mel of a whole utterance, frame i centred at i / 100 s, normalised with
    the utterance's own statistics as the pipeline does for a clip."""
    window, filterbank = torch.from_numpy(audio.stft_window()), torch.from_numpy(audio.mel_filterbank())
    samples_for = lambda start, end: audio.slice_with_zeros(waveform, start, end)  # noqa: E731
    statistics = audio.log_mel_statistics(samples_for, len(waveform), window, filterbank)
    count = 1 + (len(waveform) - 1) // MEL_HOP
    start, end = audio.mel_frame_span(0, count)
    return statistics.apply(audio.log_mel_uncentred(torch.from_numpy(samples_for(start, end))[None], window, filterbank))[0]


def segment_targets(segments: list[tuple[float, float]], count: int) -> torch.Tensor:
    """(count,) 1.0 on the mel frames inside the (start_s, end_s) segments."""
    targets = torch.zeros(count)
    for start, end in segments:
        targets[frames_in(start, end, MEL_RATE, count)] = 1.0
    return targets


def closure_targets(sequence: Sequence, count: int) -> torch.Tensor:
    """(1, count) 1.0 on the mel frames inside the sequence's bilabials."""
    return segment_targets(bilabial_closures(sequence.metadata["phonemes"]), count)[None]


Targets = Callable[[Sequence, int], torch.Tensor]  # (sequence, mel frames) -> (E, mel frames)


def utterance_speech_features(encoder: SpeechEncoder, waveform: np.ndarray) -> torch.Tensor:
    """(C, F) float16 speech-encoder features of a whole utterance, encoded as the
    pipeline encodes a clip (``speech_encoder.encode_clip``)."""
    samples_for = lambda start, end: audio.slice_with_zeros(waveform, start, end)  # noqa: E731
    return torch.from_numpy(np.ascontiguousarray(encode_clip(encoder, samples_for, len(waveform)).T))


def examples(sequences: list[Sequence], targets_of: Targets = closure_targets,
             encoder: SpeechEncoder | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(inputs, (E, M) targets at the mel rate)] of each sequence: inputs (80, M) log-mel,
    or with an ``encoder`` its (C, M / 2) features (kept in float16: 1.3 GB for the
    recipe's 9 hours, its synthetic lines listed twice)."""
    pairs = []
    for sequence in sequences:
        if encoder is None:
            inputs = utterance_log_mel(sequence.waveform)
            count = inputs.shape[1]
        else:
            inputs = utterance_speech_features(encoder, sequence.waveform)
            count = inputs.shape[1] * INPUT_STEPS["speech"]
        pairs.append((inputs, targets_of(sequence, count)))
    return pairs


def input_settings(encoder: SpeechEncoder | None) -> dict:
    """A detector's settings for what it reads: the log-mel, or ``encoder``'s features."""
    return {} if encoder is None else {"inputs": "speech", "input_channels": encoder.width}


def closure_runs(target: np.ndarray) -> list[tuple[int, int]]:
    """[first, stop) of each run of 1s in a (M,) 0/1 target."""
    edges = np.diff(np.r_[0, target, 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def closure_peaks(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(C,) the highest of (B, M) ``values`` within SLACK_FRAMES of each run of 1s in the
    (B, M) ``targets``: one per bilabial."""
    peaks = [values[row, max(0, first - SLACK_FRAMES):stop + SLACK_FRAMES].max()
             for row, target in enumerate(targets.cpu().numpy()) for first, stop in closure_runs(target)]
    return torch.stack(peaks) if peaks else values.new_zeros(0)


def train_detector(train: list[Sequence], settings: ClosureTrainSettings = SETTINGS, device: str = "auto",
                   log=print, kind: type[EventDetector] = LipClosureDetector, targets_of: Targets = closure_targets,
                   what: str = "lip closure", encoder: SpeechEncoder | None = None) -> EventDetector:
    """The trained detector, in eval mode on the CPU: a ``kind`` with one output per row of
    ``targets_of``'s targets, reading the log-mel or, given one, ``encoder``'s features."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    data = examples(train, targets_of, encoder)
    target_device = choose_device(device)
    detector = kind(width=settings.width, outputs=len(data[0][1]), **input_settings(encoder)).to(target_device)
    input_step = detector.input_step  # crops start on an input frame
    optimizer = torch.optim.Adam(detector.parameters(), lr=settings.learning_rate)
    detector.train()
    started, losses = time.perf_counter(), []
    for step in range(settings.steps):
        if step == settings.decay_after:
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate * 0.1
        crops, targets = [], []
        for index in rng.integers(0, len(data), settings.batch_size):
            inputs, target = data[index]
            first = input_step * int(rng.integers(0, max(1, (target.shape[1] - CROP_FRAMES) // input_step)))
            crops.append(inputs[:, first // input_step:(first + CROP_FRAMES) // input_step])
            targets.append(target[:, first:first + CROP_FRAMES])
        length = min(c.shape[1] for c in crops)  # utterances shorter than a crop shorten the batch
        batch = torch.stack([c[:, :length] for c in crops]).float().to(target_device)
        target = torch.stack([t[:, :length * input_step] for t in targets]).to(target_device)  # (B, E, M)
        logits = detector.event_logits(batch)
        if settings.regression:
            loss = F.mse_loss(logits, target)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, target)
        if settings.peak_weight > 0 and not settings.regression:  # each event of each kind: one row of (B E, M)
            peaks = closure_peaks(logits.flatten(0, 1), target.flatten(0, 1))
            if len(peaks):
                loss = loss + settings.peak_weight * F.binary_cross_entropy_with_logits(peaks, torch.ones_like(peaks))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps:
            log(f"{what} step {step + 1}: loss {np.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)")
            losses = []
    return detector.cpu().eval()


FALSE_ALARM_RATES = (0.04, 0.08)


def closure_peaks_and_background(detector: EventDetector, sequences: list[Sequence],
                                 targets_of: Targets = closure_targets, kind: int = 0,
                                 encoder: SpeechEncoder | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(C,) the highest probability of event ``kind`` within 30 ms of each of its events in
    the sequences (by default the bilabials), and (F,) its probabilities on all frames
    more than 60 ms from any of them (silences included, where a closed mouth does no
    harm). ``encoder``: the speech encoder, used if the detector reads its features."""
    peaks, background = [], []
    if encoder is not None and detector.inputs != "speech":
        encoder = None
    with torch.no_grad():
        for inputs, target in examples(sequences, targets_of, encoder):
            probability = torch.sigmoid(detector.event_logits(inputs[None].float()))[0, kind]
            peaks.append(closure_peaks(probability[None], target[kind:kind + 1]).numpy())
            away = np.convolve(target[kind].numpy(), np.ones(4 * SLACK_FRAMES + 1), "same") == 0
            background.append(probability.numpy()[away])
    return (np.concatenate(peaks or [np.zeros(0, np.float32)]).astype(np.float32),
            np.concatenate(background or [np.zeros(0, np.float32)]))


def detection_report(detector: EventDetector, sequences: list[Sequence], targets_of: Targets = closure_targets,
                     kind: int = 0, events: str = "bilabials", encoder: SpeechEncoder | None = None) -> dict:
    """On held-out voices: the share of events heard (probability over SEAL_FROM /
    SEAL_FULL within 30 ms), the share of frames away from any event over SEAL_FROM
    (false alarms), and the share heard at fixed false-alarm rates.

    Compare detectors by the last: a fixed threshold mixes how well a detector hears with
    where its probabilities sit. Seeds of one recipe heard 70-81 % over 0.3 but 77-79 % at
    4 % false alarms (see the model card)."""
    peaks, background = closure_peaks_and_background(detector, sequences, targets_of, kind, encoder)
    share = lambda mask: float(mask.mean()) if mask.size else 0.0  # noqa: E731
    report = {events: len(peaks),
              **{f"heard_over_{threshold:g}": share(peaks > threshold) for threshold in (SEAL_FROM, SEAL_FULL)},
              "false_alarm_frames": share(background > SEAL_FROM)}
    for rate in FALSE_ALARM_RATES:
        threshold = np.quantile(background, 1.0 - rate) if background.size else 1.0
        report[f"heard_at_{rate:.0%}_false_alarms"] = share(peaks > threshold)
    return report


def train_and_save_events(train: list[Sequence], validation: list[Sequence], out: Path,
                          settings: ClosureTrainSettings, device: str, log, kind: type[EventDetector],
                          targets_of: Targets, what: str, reported: tuple[str, ...],
                          calibrate: Callable[..., None] | None = None, encoder: SpeechEncoder | None = None) -> dict:
    """Trains a ``kind`` on ``targets_of``'s rows, lets ``calibrate`` set what it sets from
    the held-out voices, writes ``out`` and returns the report on those voices of its first
    len(``reported``) outputs, by those names."""
    detector = train_detector(train, settings, device, log, kind, targets_of, what, encoder)
    if calibrate is not None:
        calibrate(detector, validation, encoder)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_detector(detector, out)
    report = {name: detection_report(detector, validation, targets_of, index, "events", encoder)
              for index, name in enumerate(reported)}
    for name, numbers in report.items():
        log(f"{what} {name} on held-out voices: {numbers}")
    return report


# The seal starts where the detector fires on 2 % of the held-out frames away from any
# p/b/m and is full where it fires on 1 %. Simulated on the real-speech report's English
# clean clips with the shipped model's own lip gaps, two seeds of the 256-channel recipe
# calibrated on the synthetic and real validation splits (thresholds 0.73 / 0.92 and
# 0.92 / 0.98) then sealed 88.6 % / 85.0 % of p/b/m and 23.5 % / 22.8 % of the speech
# frames away from them, at r 0.606 / 0.613; at the fixed 0.3 / 0.6, 92.9 % / 97.6 %,
# 32.8 % / 44.6 %, r 0.550 / 0.507 (the 128-channel detector before: 90.2 %, 28.9 %, 0.589).
SEAL_FALSE_ALARMS = (0.02, 0.01)
# A detector on the speech encoder's features (SPEECH_SETTINGS) seals from 1 % and fully
# from 0.5 %. Simulated the same way (the shipped weights, the report's English clean
# clips): at 2 % / 1 % (thresholds 0.659 / 0.892) it sealed 96.1 % of p/b/m, 18.1 % of the
# frames away from them (the model alone: 11.4 %), 7.8 pops a minute, the teeth over the
# lip on 29 % of f/v (the lift gives way to a seal); at 1 % / 0.5 % (0.892 / 0.972)
# 93.3 %, 15.0 %, 5.6 and 41 %.
SPEECH_SEAL_FALSE_ALARMS = (0.01, 0.005)


def calibrated_thresholds(detector: LipClosureDetector, sequences: list[Sequence],
                          encoder: SpeechEncoder | None = None) -> tuple[float, float]:
    """The probabilities that the detector passes on SEAL_FALSE_ALARMS (a speech
    detector: SPEECH_SEAL_FALSE_ALARMS) of the frames of ``sequences`` away from any p/b/m
    (the seal's start and full); its own when there are none."""
    _, background = closure_peaks_and_background(detector, sequences, encoder=encoder)
    if not background.size:
        return detector.thresholds
    rates = SPEECH_SEAL_FALSE_ALARMS if detector.inputs == "speech" else SEAL_FALSE_ALARMS
    start, full = (float(np.quantile(background, 1.0 - rate)) for rate in rates)
    return start, max(full, start + 1e-3)


def calibrate_seal(detector: LipClosureDetector, sequences: list[Sequence], encoder: SpeechEncoder | None = None) -> None:
    detector.thresholds = calibrated_thresholds(detector, sequences, encoder)


def train_and_save(train: list[Sequence], validation: list[Sequence], out: Path,
                   settings: ClosureTrainSettings = SETTINGS, device: str = "auto", log=print,
                   encoder: SpeechEncoder | None = None) -> dict:
    """Trains on the training voices, calibrates the seal's thresholds on the held-out
    ones, writes ``out`` and returns the report on them. With an ``encoder`` the detector
    reads its features instead of the log-mel."""
    return train_and_save_events(train, validation, out, settings, device, log, LipClosureDetector, closure_targets,
                                 "lip closure", ("p/b/m",), calibrate_seal, encoder)


TrainAndSave = Callable[..., dict]  # (train, validation, out, settings, device) -> held-out report


def detector_command(argv: list[str] | None, prog: str, description: str, train_and_save: TrainAndSave,
                     defaults: ClosureTrainSettings = EVENT_SETTINGS, speech_inputs: bool = False,
                     speech_defaults: ClosureTrainSettings = SPEECH_SETTINGS) -> int:
    """The command line every detector's training shares: corpus (and real corpora) in,
    the .safetensors file out; ``defaults``: that detector's recipe, ``speech_defaults`` on
    the speech encoder's features."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--real-corpus", type=Path, action="append", default=[],
                        help="a training.real_corpus folder whose training split joins (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    parser.add_argument("--steps", type=int, help=f"default {defaults.steps}; with --speech-encoder {speech_defaults.steps}")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="initialisation and crop order (held-out recall varies with it: see the model card)")
    parser.add_argument("--peak-weight", type=float, default=defaults.peak_weight,
                        help="weight of the term on each event's highest logit within 30 ms")
    parser.add_argument("--width", type=int, help=f"channels of each layer (default {defaults.width}; "
                                                   f"with --speech-encoder {speech_defaults.width})")
    parser.add_argument("--limit", type=int, help="use only the first N sequences of each split")
    parser.add_argument("--device", default="auto")
    if speech_inputs:
        parser.add_argument("--speech-encoder", type=Path,
                            help="read this speech encoder's features (core.model.speech_encoder) instead of the log-mel")
    args = parser.parse_args(argv)
    encoder = {"encoder": load_speech_encoder(args.speech_encoder)} if getattr(args, "speech_encoder", None) else {}
    recipe = speech_defaults if encoder else defaults
    # Lazy: a detector needs the audio and the phoneme timings (a regressor, the faces' few
    # numbers it learns), not the meshes held in memory.
    train = load_corpus(args.corpus, "train", limit=args.limit, lazy=True)
    validation = load_corpus(args.corpus, "validation", limit=args.limit, lazy=True)
    for real in args.real_corpus:
        train += load_corpus(real, "train", limit=args.limit, lazy=True)
        validation += load_corpus(real, "validation", limit=args.limit, lazy=True)
    train_and_save(train, validation, args.out,
                   replace(recipe, steps=args.steps or recipe.steps, seed=args.seed, peak_weight=args.peak_weight,
                           width=args.width or recipe.width),
                   args.device, **encoder)
    return 0


def main(argv: list[str] | None = None) -> int:
    return detector_command(argv, "meshtalk_blender.training.lip_closure", __doc__.splitlines()[0], train_and_save,
                            SETTINGS, speech_inputs=True)


if __name__ == "__main__":
    sys.exit(main())
