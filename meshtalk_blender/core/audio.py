"""Audio front end: decode, mono, 16 kHz, loudness, log-mel, and the frame clock.

Everything streams: a clip is read in blocks, so an hour of audio never sits in memory.
A clip is read twice: once for its loudness (the original scales the whole waveform to
``0.01 * x / mean(|x|)``), once for features.

Time conventions (all exact, in 16 kHz samples of the clip):
- mel frame i is centred on sample 160 * i (time i / 100 s); i may be negative or run
  past the end: samples outside the clip are zeros;
- model frame k is at time k / 30 s; output frame n is at time n / fps.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile
import soxr
import torch

from .errors import MeshTalkError
from .model.config import AUDIO_SAMPLE_RATE, MEL_BANDS, MEL_HOP

FFT_SIZE = 2048
WINDOW_LENGTH = 800
MEL_MIN_HZ = 0.0
MEL_MAX_HZ = 8000.0
LOG_FLOOR = 1e-10
TARGET_MEAN_ABS = 0.01  # the original's loudness normalisation
SILENCE_PEAK = 1e-4  # -80 dBFS: below this there is nothing to animate
MIN_DURATION = 0.1  # seconds
BLOCK_SECONDS = 20.0


def stft_window() -> np.ndarray:
    """(800,) periodic Hann window (the STFT pads it centrally to 2048)."""
    n = np.arange(WINDOW_LENGTH)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / WINDOW_LENGTH)).astype(np.float32)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank() -> np.ndarray:
    """(1025, 80) triangular HTK-mel filters, 0-8 kHz, no area normalisation."""
    bin_hz = np.linspace(0, AUDIO_SAMPLE_RATE / 2, FFT_SIZE // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2))
    widths = np.diff(edges_hz)
    rising = (bin_hz[:, None] - edges_hz[None, :-2]) / widths[None, :-1]
    falling = (edges_hz[None, 2:] - bin_hz[:, None]) / widths[None, 1:]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def log_mel_uncentred(samples: torch.Tensor, window: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """(B, N) samples -> (B, 80, 1 + (N - 2048) // 160) natural-log mel power.

    Frame f covers samples [160 f, 160 f + 2048); the caller adds the context that
    centred frames need (``mel_frame_span``)."""
    spectrum = torch.stft(
        samples,
        n_fft=FFT_SIZE,
        hop_length=MEL_HOP,
        win_length=WINDOW_LENGTH,
        window=window,
        center=False,
        return_complex=True,
    )
    power = spectrum.real.square() + spectrum.imag.square()  # (B, 1025, F)
    mel = torch.matmul(filterbank.T, power)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))


@dataclass(frozen=True)
class MelStatistics:
    """Per-utterance log-mel statistics: subtracting the per-band mean removes the
    recording channel's colouring (microphone, room EQ); one global scale keeps the
    bands' relative spread (a per-band scale would blow up near-constant bands)."""

    mean: np.ndarray  # (80,) per-band mean over the clip's frames
    scale: float  # standard deviation over all bands and frames, after the mean

    def apply(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, M) -> normalised (B, 80, M)."""
        mean = torch.as_tensor(self.mean, dtype=log_mel.dtype, device=log_mel.device)[None, :, None]
        return (log_mel - mean) / self.scale


def log_mel_statistics(samples_for, num_samples: int, window: torch.Tensor, filterbank: torch.Tensor,
                       frames_per_block: int = 3000) -> MelStatistics:
    """Statistics of the centred log-mel frames whose centres lie inside the clip, computed
    block by block (bounded memory). ``samples_for(start, end)`` returns the clip's
    samples with zeros outside it, moving forward only."""
    num_frames = 1 + (num_samples - 1) // MEL_HOP
    total = np.zeros(MEL_BANDS)
    total_square = np.zeros(MEL_BANDS)
    for first in range(0, num_frames, frames_per_block):
        count = min(frames_per_block, num_frames - first)
        start, end = mel_frame_span(first, count)
        samples = torch.from_numpy(samples_for(start, end)).to(window.device)[None]
        log_mel = log_mel_uncentred(samples, window, filterbank)[0].double().cpu().numpy()
        total += log_mel.sum(axis=1)
        total_square += np.square(log_mel).sum(axis=1)
    mean = total / num_frames
    variance = max(float((total_square / num_frames - mean ** 2).mean()), 1e-6)
    return MelStatistics(mean.astype(np.float32), float(np.sqrt(variance)))


def mel_frame_span(first_frame: int, count: int) -> tuple[int, int]:
    """Sample range [start, end) that centred mel frames first..first+count-1 read."""
    start = first_frame * MEL_HOP - FFT_SIZE // 2
    return start, start + (count - 1) * MEL_HOP + FFT_SIZE


def frame_count(duration: float, fps: float) -> int:
    """Frames at times n / fps for 0 <= n / fps <= duration."""
    return int(math.floor(duration * fps + 1e-9)) + 1


@dataclass(frozen=True)
class AudioClip:
    """A range of an audio file: what a sound strip plays, or a whole file."""

    path: Path
    start: float = 0.0  # seconds into the file
    duration: float | None = None  # seconds; None: to the end of the file

    def check_range(self) -> None:
        """Refuses a start or duration no file can have (NaN, infinity, negative), before
        the file is opened."""
        if not (math.isfinite(self.start) and self.start >= 0):
            raise MeshTalkError(f"The start must be zero or a positive number of seconds (got {self.start:g}).")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise MeshTalkError(f"The duration must be a positive number of seconds (got {self.duration:g}); "
                                "leave it out to animate to the end of the file.")


@dataclass(frozen=True)
class ClipInfo:
    clip: AudioClip
    file_rate: int
    channels: int
    first_file_frame: int
    file_frames: int  # frames of the file inside the clip (those actually decoded)
    num_samples: int  # length of the clip at 16 kHz
    mean_abs: float  # of the 16 kHz mono clip
    peak: float
    # Things the user should know and that do not stop the run, one sentence each
    # (e.g. the file is cut short): the command line prints them, the add-on shows them.
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.num_samples / AUDIO_SAMPLE_RATE

    @property
    def loudness_gain(self) -> float:
        return TARGET_MEAN_ABS / self.mean_abs


MIN_FILE_RATE, MAX_FILE_RATE = 1000, 768_000
BLOCK_VALUES = 2_000_000  # decoded values per block at most, whatever the channel count
SHORT_TOLERANCE = 0.05  # seconds: an MP3's estimated length may be off by this much unremarked


def _open(path: Path) -> soundfile.SoundFile:
    if path.is_dir():
        raise MeshTalkError(f"The audio {path} is a folder; give an audio file (WAV, FLAC, OGG or MP3).")
    if not path.is_file():
        raise MeshTalkError(f"Audio file not found: {path}. Check the path (or the sound strip's file).")
    try:
        return soundfile.SoundFile(str(path))
    except Exception as error:  # libsndfile reports every decoding problem this way
        detail = getattr(error, "error_string", "") or str(error)
        if "does not exist" in detail:  # libsndfile's words for an MP3 it cannot parse; the file is there
            detail = ""
        raise MeshTalkError(
            f"Cannot decode audio file {path.name}{f' ({detail})' if detail else ''}: it is truncated, damaged or "
            "not WAV, FLAC, OGG or MP3. Re-export it, or convert it to WAV."
        ) from None


class _Blocks:
    """Iterates 16 kHz mono float32 blocks of ``frames`` file frames from ``first_frame``.

    ``frames_read`` counts the file frames decoded so far. A file whose data ends before
    ``frames`` (cut short, or an MP3 whose length libsndfile estimated) ends the
    iteration there if ``exact`` is False (``probe`` measures what is there); if True
    (the later passes, which must see what ``probe`` saw) it is an error."""

    def __init__(self, path: Path, first_frame: int, frames: int, file_rate: int, exact: bool):
        self.path, self.first_frame, self.frames, self.file_rate, self.exact = path, first_frame, frames, file_rate, exact
        self.frames_read = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        name, rate = self.path.name, self.file_rate
        resampler = None if rate == AUDIO_SAMPLE_RATE else soxr.ResampleStream(
            rate, AUDIO_SAMPLE_RATE, 1, dtype="float32", quality="HQ"
        )
        with _open(self.path) as handle:
            block = max(1, min(int(BLOCK_SECONDS * rate), BLOCK_VALUES // max(1, handle.channels)))
            try:
                handle.seek(self.first_frame)
            except Exception as error:
                raise self._damaged(error) from None
            remaining = self.frames
            while remaining > 0:
                try:
                    data = handle.read(min(block, remaining), dtype="float32", always_2d=True)
                except Exception as error:  # libsndfile: a damaged frame, a lost sync
                    raise self._damaged(error) from None
                if len(data) == 0:
                    if self.exact:
                        raise MeshTalkError(f"Audio file {name} ends early; it was changed or damaged while it was "
                                            "read. Animate again.")
                    break
                if not np.isfinite(data).all():  # a float file's damage: refused before any arithmetic
                    raise MeshTalkError(f"Audio file {name} contains invalid samples (NaN or infinity); it is "
                                        "damaged. Re-export it.")
                remaining -= len(data)
                self.frames_read += len(data)
                mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)  # float32 sums can overflow
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=remaining <= 0)
                if not np.isfinite(mono).all():  # finite samples near float32's limit can overflow here
                    raise MeshTalkError(f"Audio file {name} holds samples far beyond full scale; it is damaged. "
                                        "Re-export it.")
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if remaining > 0 and resampler is not None:  # ended early: the resampler still holds its tail
                yield np.ascontiguousarray(resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    def _damaged(self, error: Exception) -> MeshTalkError:
        detail = getattr(error, "error_string", "") or str(error) or type(error).__name__
        at = (self.first_frame + self.frames_read) / self.file_rate
        return MeshTalkError(f"Audio file {self.path.name} is damaged or cut short: it cannot be decoded after "
                             f"{at:.2f} s ({detail}). Re-export it, or convert it to WAV.")


def _claimed_frames(notes: str, frames: int) -> int:
    """How many frames the file's header claims, from libsndfile's notes on it: for a WAV
    whose data chunk is cut short it reports "data : 352800 (should be 176378)" and counts
    only the frames that are there."""
    match = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", notes, re.MULTILINE)
    if match and 0 < int(match.group(2)) < int(match.group(1)):
        return int(round(frames * int(match.group(1)) / int(match.group(2))))
    return frames


def probe(clip: AudioClip) -> ClipInfo:
    """Checks the clip and measures it (first pass over the audio). A file that holds
    less than its header claims is animated as far as it goes, with a warning."""
    clip.check_range()
    path = Path(clip.path)
    with _open(path) as handle:
        file_rate, channels, total = handle.samplerate, handle.channels, handle.frames
        notes = handle.extra_info
    if not MIN_FILE_RATE <= file_rate <= MAX_FILE_RATE:
        raise MeshTalkError(f"Audio file {path.name} says its sample rate is {file_rate} Hz; it is damaged or not "
                            "audio. Re-export it, or convert it to WAV.")
    if total <= 0:
        raise MeshTalkError(f"Audio file {path.name} contains no samples.")
    claimed = max(total, _claimed_frames(notes, total))
    first = int(round(clip.start * file_rate))
    if first >= total:
        raise MeshTalkError(
            f"The clip starts at {clip.start:.2f} s but {path.name} is only {total / file_rate:.2f} s long."
        )
    wanted = claimed - first
    if clip.duration is not None:
        wanted = min(wanted, int(round(clip.duration * file_rate)))
    _check_length(wanted, file_rate)
    sum_abs, peak, count = 0.0, 0.0, 0
    blocks = _Blocks(path, first, min(wanted, total - first), file_rate, exact=False)
    for block in blocks:
        sum_abs += float(np.abs(block).sum(dtype=np.float64))
        peak = max(peak, float(np.abs(block).max(initial=0.0)))
        count += len(block)
    if blocks.frames_read == 0:
        raise MeshTalkError(f"{path.name} ends before the clip's start ({clip.start:.2f} s) although its header says "
                            f"{claimed / file_rate:.2f} s; it is cut short. Start earlier, or re-export the file.")
    warnings = []
    ends = (first + blocks.frames_read) / file_rate
    if (wanted - blocks.frames_read) / file_rate > SHORT_TOLERANCE:
        _check_length(blocks.frames_read, file_rate)
        warnings.append(f"{path.name} ends at {ends:.2f} s although its header says {claimed / file_rate:.2f} s; "
                        "it is cut short, animating what is there.")
    elif "lacks an end-of-stream" in notes and first + wanted >= total:
        warnings.append(f"{path.name} ends at {ends:.2f} s without its end-of-stream mark; it is cut short, "
                        "animating what is there.")
    if count == 0 or peak < SILENCE_PEAK:
        raise MeshTalkError(
            f"The audio in {path.name} is silent (peak below -80 dBFS). Pick a clip with speech."
        )
    return ClipInfo(clip, file_rate, channels, first, blocks.frames_read, count, sum_abs / count, peak,
                    tuple(warnings))


def _check_length(frames: int, file_rate: int) -> None:
    if frames / file_rate < MIN_DURATION:
        raise MeshTalkError(
            f"The audio is too short ({frames / file_rate * 1000:.0f} ms); give at least {MIN_DURATION:.1f} s."
        )


def sub_clip(info: ClipInfo, start: float, seconds: float) -> ClipInfo:
    """``seconds`` of an already probed clip from ``start`` (seconds into it), read with the
    whole clip's loudness, so its samples are the whole clip's samples (a part probed on
    its own would be normalised by its own level)."""
    first = min(info.file_frames - 1, max(0, int(round(start * info.file_rate))))
    frames = max(1, min(info.file_frames - first, int(math.ceil(seconds * info.file_rate)) + 1))
    skipped = int(round(first * AUDIO_SAMPLE_RATE / info.file_rate))
    samples = max(1, min(info.num_samples - skipped, int(round(seconds * AUDIO_SAMPLE_RATE)) + 1))
    return dataclasses.replace(info, clip=AudioClip(info.clip.path, info.clip.start + start, seconds),
                               first_file_frame=info.first_file_frame + first, file_frames=frames,
                               num_samples=samples, warnings=())


class NormalisedSamples:
    """Forward-moving access to the clip's normalised 16 kHz samples by index range,
    with zeros before the start and after the end. Requests may overlap, but their
    starts must not move backwards (older samples are dropped to bound memory)."""

    def __init__(self, info: ClipInfo):
        self._info = info
        self._blocks = iter(_Blocks(Path(info.clip.path), info.first_file_frame, info.file_frames, info.file_rate,
                                    exact=True))
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # clip sample index of self._buffer[0]
        self._exhausted = False

    def get(self, start: int, end: int) -> np.ndarray:
        """(end - start,) float32 samples of the clip (zeros outside it)."""
        if max(start, 0) < self._buffer_start:
            raise ValueError("NormalisedSamples only moves forward: those samples were dropped")
        limit = min(end, self._info.num_samples)
        while not self._exhausted and self._buffer_start + len(self._buffer) < limit:
            block = next(self._blocks, None)
            if block is None:
                self._exhausted = True
            else:
                self._buffer = np.concatenate([self._buffer, block * np.float32(self._info.loudness_gain)])
        out = np.zeros(end - start, dtype=np.float32)
        lo, hi = max(start, self._buffer_start), min(end, self._buffer_start + len(self._buffer))
        if hi > lo:
            out[lo - start : hi - start] = self._buffer[lo - self._buffer_start : hi - self._buffer_start]
        drop = max(0, start - self._buffer_start)
        self._buffer, self._buffer_start = self._buffer[drop:], self._buffer_start + drop
        return out


def slice_with_zeros(samples: np.ndarray, start: int, end: int) -> np.ndarray:
    """samples[start:end] of an in-memory waveform, with zeros outside it."""
    out = np.zeros(end - start, dtype=np.float32)
    lo, hi = max(start, 0), min(end, len(samples))
    if hi > lo:
        out[lo - start:hi - start] = samples[lo:hi]
    return out


def load_normalised(clip: AudioClip) -> tuple[ClipInfo, np.ndarray]:
    """The whole clip in memory: (info, (N,) normalised 16 kHz samples). For short clips
    (tests, training data); inference streams with ``NormalisedSamples``."""
    info = probe(clip)
    return info, NormalisedSamples(info).get(0, info.num_samples)


def normalise_waveform(samples: np.ndarray) -> np.ndarray:
    """The original's loudness normalisation of an in-memory 16 kHz mono waveform."""
    mean_abs = float(np.abs(samples).mean(dtype=np.float64))
    if mean_abs <= 0:
        return samples.astype(np.float32)
    return (samples * (TARGET_MEAN_ABS / mean_abs)).astype(np.float32)
