"""The take's audio analysed on a thread while the model runs: its level per output frame
(phrases and pauses, for gaze, brows and head motion) and its pitch accents (brows).

The pitch analysis costs about a second per minute of audio (plus librosa's import the
first time in a process); beside the model it is hidden in the model's own time.
"""

from __future__ import annotations

import threading

import numpy as np


class ClipAnalysis:
    """(levels_db (T,), pitch accents) of the whole take's audio, computed on a thread
    while the model runs (None for what is not asked for)."""

    def __init__(self, info, count: int, fps: float, levels: bool = True, accents: bool = True):
        """``info``: the clip's ``audio.ClipInfo``; ``count`` output frames at ``fps``."""
        self._levels = self._accents = self._error = None
        self._thread = None
        if levels or accents:
            self._thread = threading.Thread(target=self._run, args=(info, count, fps, accents),
                                            name="MeshTalk clip analysis", daemon=True)
            self._thread.start()

    def _run(self, info, count: int, fps: float, accents: bool) -> None:
        try:
            from .pauses import clip_levels_db

            self._levels = clip_levels_db(info, count, fps)
            if accents:
                from .brows import take_accents

                self._accents = take_accents(info)
        except BaseException as error:  # raised again where the result is taken
            self._error = error

    def result(self) -> tuple[np.ndarray | None, list | None]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._levels, self._accents
