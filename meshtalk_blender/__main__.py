"""``python -m meshtalk_blender``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
