"""Speech synthesis that gives the same utterance whatever was spoken before.

espeak-ng carries state from one synthesis to the next inside a process: measured here,
the same text, voice and settings came out 2 to 560 samples longer depending on what
the process had spoken before (seeding libc's rand does not help, and the library
cannot be re-initialised). A corpus made on several workers would then depend on which
worker ran which job. So espeak-ng jobs go to a helper process that never speaks
itself: it forks a child per job, the child speaks once and leaves. festival (a new
process per phrase), Piper and Kokoro were measured to repeat exactly within a process,
and run where they are called.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle

from ..speech.parallel import SynthesisJob, synthesize_job
from ..speech.utterance import Utterance
from ..speech.voices import all_voices, get_voice

STATEFUL_ENGINES = {"espeak-ng"}


def _serve(connection) -> None:
    """The helper's loop: for each job, fork a child that speaks it and sends back the
    pickled Utterance (or the exception it raised)."""
    all_voices()  # build the catalogue once, so every child starts with it
    while True:
        try:
            job = connection.recv()
        except EOFError:  # the process that started us is gone
            return
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(reader)
            try:
                payload = pickle.dumps(synthesize_job(job))
            except BaseException as error:  # noqa: BLE001 - hand any failure to the caller
                payload = pickle.dumps(error)
            with os.fdopen(writer, "wb") as out:
                out.write(payload)
            os._exit(0)  # skip interpreter teardown: the child only had to speak
        os.close(writer)
        with os.fdopen(reader, "rb") as source:
            payload = source.read()
        os.waitpid(child, 0)
        connection.send_bytes(payload)


class _CleanSpeaker:
    """Handle on the helper process (started on first use, one per process)."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True,
                                       name="meshtalk-clean-speaker")
        self.process.start()
        child_end.close()

    def synthesize(self, job: SynthesisJob) -> Utterance:
        self.connection.send(job)
        result = pickle.loads(self.connection.recv_bytes())
        if isinstance(result, BaseException):
            raise result
        return result


_speaker: _CleanSpeaker | None = None


def synthesize_fresh(job: SynthesisJob) -> Utterance:
    """``synthesize_job(job)``, run so that earlier jobs cannot change its result."""
    global _speaker
    if get_voice(job.voice_id).card.engine not in STATEFUL_ENGINES:
        return synthesize_job(job)
    if _speaker is None or not _speaker.process.is_alive():
        _speaker = _CleanSpeaker()
    return _speaker.synthesize(job)
