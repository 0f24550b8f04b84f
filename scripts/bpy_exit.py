"""Run a script's main() in the bpy module, then leave with os._exit.

The bpy module can hang at interpreter exit (../shared/docs/blender-notes.md), so every
script here ends the process itself: main()'s return value (None counts as 0) or a
SystemExit's code becomes the exit status (as Python does: None gives 0, a message is
printed and gives 1); any other exception is printed and gives 1.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Callable


def run_then_exit(main: Callable[[], int | None], cleanup: Callable[[], None] | None = None) -> None:
    status = 1
    try:
        status = main() or 0
    except SystemExit as exit_request:  # argparse errors and --help; Python's rules for the code
        code = exit_request.code
        status = 0 if code is None else code if isinstance(code, int) else 1
        if not isinstance(code, int) and code is not None:
            print(code, file=sys.stderr)
    except Exception:  # noqa: BLE001 - report, then leave without bpy's exit hang
        traceback.print_exc()
    finally:
        if cleanup is not None:
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - leaving anyway
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
