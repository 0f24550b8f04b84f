"""The take's audio analysed on a thread while the model runs: its level per output frame
(phrases and pauses, for gaze, brows and head motion), its pitch accents (brows) and the
tongue's places (core.tongue).

The pitch analysis costs about a second per minute of audio (plus librosa's import the
first time in a process); beside the model it is hidden in the model's own time.
"""

from __future__ import annotations

import threading

import numpy as np


class ClipAnalysis:
    """(levels_db (T,), pitch accents) of the whole take's audio, and its tongue track,
    computed on a thread while the model runs (None for what is not asked for)."""

    def __init__(self, info, count: int, fps: float, levels: bool = True, accents: bool = True, tongue=None):
        """``info``: the clip's ``audio.ClipInfo``; ``count`` output frames at ``fps``;
        ``tongue``: the model's tongue detector, to draw the tongue's track with."""
        self._levels = self._accents = self._tongue = self._error = None
        self._thread = None
        if levels or accents or tongue is not None:
            self._thread = threading.Thread(target=self._run, args=(info, count, fps, levels or accents, accents,
                                                                    tongue),
                                            name="MeshTalk clip analysis", daemon=True)
            self._thread.start()

    def _run(self, info, count: int, fps: float, levels: bool, accents: bool, tongue) -> None:
        try:
            if levels:
                from .pauses import clip_levels_db

                self._levels = clip_levels_db(info, count, fps)
            if accents:
                from .brows import take_accents

                self._accents = take_accents(info)
            if tongue is not None:
                import torch

                from .pipeline import sampler_core
                from .tongue import clip_tongue

                # With the same torch thread count as a run beside it, whenever each starts.
                with sampler_core(torch.device("cpu")):
                    self._tongue = clip_tongue(tongue, info, count, fps)
        except BaseException as error:  # raised again where the result is taken
            self._error = error

    def result(self) -> tuple[np.ndarray | None, list | None]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._levels, self._accents

    def tongue_track(self) -> np.ndarray | None:
        """(T, 3) weights of core.tongue.TONGUE_KEYS, or None."""
        self.result()
        return self._tongue
