"""``python -m meshtalk_blender``: see cli.py."""

import os
import sys

from .cli import main

status = main()
# Leave without the interpreter's teardown: unloading torch took 0.7-0.9 s after the work
# was done. Every output is complete and closed by now (written atomically).
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
