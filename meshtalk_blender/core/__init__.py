"""The Blender-free core: audio, model, sampler, checkpoints, face, retargeting, caches.

Nothing under ``core`` may import bpy; every function takes and returns plain arrays.
"""
