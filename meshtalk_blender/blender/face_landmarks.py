"""Face landmarks the user drags: six empties (nose tip, pupils, mouth corners, chin)
parented to the character's mesh, read by Make ARKit Shape Keys instead of searching
(core.character.landmarks, ``placed``).

For a stylised or odd face the search may find nothing or the wrong thing. "Place Face
Landmarks" puts the six empties where the last Make ARKit Shape Keys found the points
(stored on the object), else where the bundled head's proportions put them on the front
of the mesh's head; the user drags them in the Front view (only X and Z count: each is
put on the surface seen from the front), then makes the keys again. Each empty carries
the custom property ``meshtalk_landmark`` (its point's name); "Clear Face Landmarks"
deletes them.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.character.landmarks import PLACED_NAMES, guessed_points

LANDMARK_PROPERTY = "meshtalk_landmark"
LABELS = {"nose_tip": "Nose Tip", "eye_left": "Left Pupil", "eye_right": "Right Pupil",
          "mouth_right": "Right Mouth Corner", "mouth_left": "Left Mouth Corner", "chin": "Chin"}


def landmark_objects(obj: bpy.types.Object) -> dict[str, bpy.types.Object]:
    """{point name: its empty} among the object's children."""
    return {child[LANDMARK_PROPERTY]: child for child in obj.children
            if child.type == "EMPTY" and child.get(LANDMARK_PROPERTY) in PLACED_NAMES}


def placed_points(obj: bpy.types.Object) -> dict[str, np.ndarray] | None:
    """{point name: (3,) world position} when all six empties are there, else None."""
    found = landmark_objects(obj)
    if len(found) < len(PLACED_NAMES):
        return None
    return {name: np.array(found[name].matrix_world.translation, dtype=np.float64) for name in PLACED_NAMES}


def place(obj: bpy.types.Object, world: np.ndarray, stored: dict | None) -> str:
    """Adds the six empties (kept where they are if the object has them) at `stored`
    points (world, from the last make) or at guesses from the (V, 3) `world` vertices;
    returns the report line."""
    existing = landmark_objects(obj)
    if len(existing) == len(PLACED_NAMES):
        return (f"MeshTalk: '{obj.name}' already shows its face landmarks; drag them in the Front view "
                "(Numpad 1), then Make ARKit Shape Keys.")
    points = stored if stored else guessed_points(world)
    size = 0.02 * float(np.ptp(world[:, 0]) if len(world) else 1.0)
    collection = obj.users_collection[0] if obj.users_collection else bpy.context.scene.collection
    inverse = obj.matrix_world.inverted()
    for name in PLACED_NAMES:
        if name in existing:
            continue
        empty = bpy.data.objects.new(f"MeshTalk {LABELS[name]} ({obj.name})", None)
        empty.empty_display_type = "SPHERE"
        empty.empty_display_size = size
        empty.show_in_front = True  # visible through the face
        empty[LANDMARK_PROPERTY] = name
        collection.objects.link(empty)
        empty.parent = obj
        empty.matrix_parent_inverse = inverse  # placed in world space, following the mesh afterwards
        empty.location = tuple(float(v) for v in points[name])
    where = "where the last Make ARKit Shape Keys found them" if stored else "guessed from the head's shape"
    return (f"MeshTalk: six face landmarks on '{obj.name}' ({where}): drag each onto the nose tip, pupils, mouth "
            "corners and chin in the Front view (Numpad 1), then Make ARKit Shape Keys.")


def clear(obj: bpy.types.Object) -> int:
    """Deletes the object's landmark empties; returns how many."""
    found = list(landmark_objects(obj).values())
    for empty in found:
        bpy.data.objects.remove(empty)
    return len(found)
