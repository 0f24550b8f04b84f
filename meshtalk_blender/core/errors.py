"""Errors that a user can cause and fix.

A ``MeshTalkError`` carries one sentence that says what is wrong and what to do. The
command line prints it on one line; the Blender layer shows it in the UI. Anything else
that escapes is a bug in this project.
"""


class MeshTalkError(Exception):
    """A problem with the user's input (audio, mesh, checkpoint, options)."""
