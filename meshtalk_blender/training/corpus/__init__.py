"""The synthetic talking-face corpus: many voices speaking, the teacher animating.

    python -m meshtalk_blender.training.corpus --out DIR (--minutes M | --hours H |
        --utterances N) [--seed S] [--workers 2] [--validation-fraction 0.1]
        [--augment-probability 0.5] [--engines espeak-ng,festival] [--overwrite]

- ``plan``: the seeded job list (split, voice, seed, augmentation of job i)
- ``worker``: one job -> speech (speech package) -> teacher animation on a random
  identity (teacher package) -> one .npz (``storage``)
- ``generate``: ``generate_corpus(folder, CorpusRequest(...), workers)`` on processes,
  writes ``manifest.json`` (``manifest``) last
- ``loader``: ``load_corpus(folder, split) -> list[training.dataset.Sequence]``

Validation sequences speak only with voices (and the language) that speech.split holds
out; training sequences never do.
"""
from .generate import CorpusRequest, generate_corpus
from .loader import load_corpus
from .manifest import read_manifest
from .storage import read_sequence

__all__ = ["CorpusRequest", "generate_corpus", "load_corpus", "read_manifest", "read_sequence"]
