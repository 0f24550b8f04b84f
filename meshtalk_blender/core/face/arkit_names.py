"""Apple ARKit's 52 blendshape names, in the order the project uses everywhere."""

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)  # fmt: skip

ARKIT_INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}

# ARKit's jaw keys: the MeshTalk head's lower teeth and tongue follow them (face.mouth_parts).
JAW_NAMES: tuple[str, ...] = ("jawOpen", "jawForward", "jawLeft", "jawRight")

# Not ARKit's: the MeshTalk head's tongue controls (core.tongue), keys on its face that
# its tongue's shape keys follow (face.mouth_parts). Here, with the names, so that code
# that only needs the names does not load core.tongue's torch.
TONGUE_KEYS: tuple[str, ...] = ("tongueTipUp", "tongueDental", "tongueBackUp")


def mirror_name(name: str) -> str:
    """The shape's twin on the other side (itself for a shape without a side).

    'Left' is the face's own left (+x in model space), as in ARKit.
    """
    if name.endswith("Left"):
        return name[: -len("Left")] + "Right"
    if name.endswith("Right"):
        return name[: -len("Right")] + "Left"
    return name
