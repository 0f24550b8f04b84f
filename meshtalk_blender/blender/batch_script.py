"""The batch command as a Blender script, for ``blender --python``:

    blender -b scene.blend --python-exit-code 2 --python <extension folder>/blender/batch_script.py -- \
        animate --object Face --audio line.wav

The MeshTalk extension must be enabled. Same arguments and behaviour as
``blender -b scene.blend -c meshtalk animate ...`` (see blender/batch.py).
"""

import importlib
import sys

import addon_utils


def _batch_module():
    """The batch module of the enabled MeshTalk extension (whatever repository it is in)."""
    for module in addon_utils.modules():
        name = module.__name__
        if name.split(".")[-1] == "meshtalk_blender" and addon_utils.check(name)[1]:
            return importlib.import_module(name + ".blender.batch")
    return None


def run() -> int:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    batch = _batch_module()
    if batch is None:
        print("meshtalk: error: the MeshTalk extension is not enabled; enable it in Preferences > Add-ons.",
              file=sys.stderr)
        return 2
    return batch.main(argv)


if __name__ == "__main__":
    status = run()
    if status:
        sys.exit(status)
