"""The README's main job: animate the bundled sample speech on the bundled head.

Writes out/sample.pc2 (load it on the head with a Mesh Cache modifier in Blender) and
out/sample.npz. Until a trained model is bundled (assets/model), this uses an UNTRAINED
model whose decoder starts at the head's neutral pose: the pipeline runs end to end, but
the motion means nothing yet, and the script says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from meshtalk_blender import cli  # noqa: E402
from meshtalk_blender.core.checkpoints import save_bundle  # noqa: E402
from meshtalk_blender.core.face import load_bundled_head  # noqa: E402
from meshtalk_blender.core.model import MeshTalk, MeshTalkConfig  # noqa: E402

OUT = ROOT / "out"
SAMPLE = ROOT / "meshtalk_blender" / "assets" / "sample_speech.flac"


def untrained_model(directory: Path) -> Path:
    head = load_bundled_head()
    config = MeshTalkConfig(num_vertices=len(head.vertices), decoder_widths=(256, 128, 64))
    torch.manual_seed(0)
    model = MeshTalk(config).eval()
    with torch.no_grad():  # outputs start within ~1 mm of the neutral head
        model.decoder.mean.copy_(torch.from_numpy(head.vertices).view(1, 1, -1, 3))
        model.decoder.stddev.fill_(1e-3)
    save_bundle(directory, model, head.vertices, description="untrained (demo only)", licence="MIT",
                vertex_masks={"smoothing": np.maximum(head.masks["forehead"], head.masks["neck"])},
                inference_only=True)
    return directory


def main() -> int:
    OUT.mkdir(exist_ok=True)
    if (cli.BUNDLED_MODEL / "model.safetensors").is_file():
        checkpoint = cli.BUNDLED_MODEL
    else:
        print("demo: no trained model is bundled yet; using an UNTRAINED model (the motion is noise).", flush=True)
        checkpoint = untrained_model(OUT / "untrained_model")
    status = 0
    for out in (OUT / "sample.pc2", OUT / "sample.npz"):
        status = status or cli.main(["animate", str(SAMPLE), "--checkpoint", str(checkpoint), "--out", str(out)])
    if status == 0:
        print(f"demo: wrote {OUT / 'sample.pc2'} (Mesh Cache for meshtalk_blender/assets/head/meshtalk_head.obj) "
              f"and {OUT / 'sample.npz'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
