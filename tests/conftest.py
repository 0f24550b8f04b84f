"""Shared test set-up: the repository root on sys.path, small models and real audio."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_fixtures import speech_like  # noqa: E402

from meshtalk_blender.core.face import load_bundled_head  # noqa: E402
from meshtalk_blender.core.model import MeshTalk, MeshTalkConfig  # noqa: E402

@pytest.fixture(scope="module")
def head():
    """The bundled MeshTalk head (a module may define its own ``head``)."""
    return load_bundled_head()


@pytest.fixture(scope="module")
def lips(head):
    """(upper, lower) inner-lip vertex pairs of the bundled head."""
    sets = head.index_sets
    return sets["upper_inner_lip"], sets["lower_inner_lip"]


@pytest.fixture(scope="module")
def bundled():
    """The bundled model, loaded once per test module."""
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core.checkpoints import load_model

    return load_model(BUNDLED_MODEL_DIR)


TINY = MeshTalkConfig(
    num_vertices=40, num_heads=6, num_classes=12, audio_channels=16, expression_widths=(24, 16),
    expression_code=16, fusion_width=24, decoder_widths=(32, 24, 16), prior_channels=8,
)


def random_model(config: MeshTalkConfig = TINY, seed: int = 0, scale: float = 1.0) -> MeshTalk:
    """A randomly initialised model; ``scale`` sharpens the prior so samples are not uniform."""
    torch.manual_seed(seed)
    model = MeshTalk(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("prior."):
                parameter.mul_(scale)
    return model


@pytest.fixture
def tiny_model() -> MeshTalk:
    return random_model(TINY, scale=3.0)


@pytest.fixture
def speech_wav(tmp_path) -> Path:
    """4 s of speech-like sound at 16 kHz, mono, with pauses."""
    import soundfile

    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(4.0, 16000, seed=1), 16000)
    return path


@pytest.fixture
def template_vertices() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(TINY.num_vertices, 3)).astype(np.float32)


def head_sized_bundle(directory: Path, description: str = "tiny test model") -> Path:
    """A small random model on the MeshTalk head's topology, saved as a bundle: what
    needs the head (ARKit weights, the add-on's zip) runs in seconds with it."""
    from meshtalk_blender.core.checkpoints import save_bundle
    from meshtalk_blender.core.face import load_bundled_head

    head = load_bundled_head()
    config = MeshTalkConfig(num_vertices=len(head.vertices), num_heads=4, num_classes=16, audio_channels=32,
                            expression_widths=(32, 16), expression_code=16, fusion_width=32,
                            decoder_widths=(48, 32, 16), prior_channels=8)
    torch.manual_seed(0)
    model = MeshTalk(config).eval()
    with torch.no_grad():
        model.decoder.mean.copy_(torch.from_numpy(head.vertices).view(1, 1, -1, 3))
        model.decoder.stddev.fill_(0.01)
    save_bundle(directory, model, head.vertices, description=description, licence="MIT", inference_only=True)
    return directory
