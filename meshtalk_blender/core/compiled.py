"""numba, with its cache of compiled kernels outside the package (an installed extension
must not write into its own folder), so only the first run pays for compiling."""

import os

if "NUMBA_CACHE_DIR" not in os.environ:
    _base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(_base, "meshtalk_blender", "numba")

import numba  # noqa: E402  (after the cache directory is set)

__all__ = ["numba"]
