"""The add-on's data in the .blend: panel settings on the scene, takes on each object."""

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..core.defaults import DEFAULT_TEMPERATURE

# Paths that may start with // (relative to the .blend); the option exists since 4.5.
RELATIVE_PATH = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()

OUTPUT_ITEMS = [
    ("ARKIT", "Shape Keys: ARKit Weights",
     "Keyframe the weights of the mesh's ARKit-named shape keys (solved from the animation)"),
    ("BASIS", "Shape Keys: Compact Basis",
     "Add a few MeshTalk shape keys whose keyframed weights reproduce the animated vertices"),
    ("MESH_CACHE", "Mesh Cache (PC2)",
     "Write a PC2 point cache next to the .blend and play it with a Mesh Cache modifier"),
]


def _start_from_model_temperature(settings, context) -> None:
    """Unticking "Model's Temperature" starts the user's own from the model's value."""
    from . import addon, model_source  # bpy-dependent and loaded after registration
    from ..core.errors import MeshTalkError

    if not settings.use_model_temperature:
        try:
            settings.temperature = model_source.summarise(addon.model_choice()).temperature
        except MeshTalkError:  # no usable model chosen: Animate says why; the value stays
            pass


def _approve_cache_folder(settings, context) -> None:
    from . import cache_files  # bpy-dependent and loaded after registration

    cache_files.approve_folder(settings.cache_folder)  # the user chose it here, not the .blend


class MeshTalkSettings(bpy.types.PropertyGroup):
    """Scene-level settings of the MeshTalk panel."""

    audio_strip: StringProperty(
        name="Sound Strip",
        description="The sound strip to animate from (empty: the active, selected or first sound strip)",
    )
    output: EnumProperty(name="Output", items=OUTPUT_ITEMS, default="ARKIT")
    seed: IntProperty(name="Seed", min=0, default=0,
                      description="Random seed of the upper-face motion (blinks, brows)")
    use_model_temperature: BoolProperty(
        name="Model's Temperature", default=True, update=_start_from_model_temperature,
        description="Sample the upper face at the temperature stored with the model (the one its blinks and brows "
                    f"were measured at; {DEFAULT_TEMPERATURE:g} for a model that stores none). Off: the Temperature "
                    "beside it")
    temperature: FloatProperty(name="Temperature", min=0.0, max=10.0, soft_max=2.0, default=DEFAULT_TEMPERATURE,
                               description="How freely the upper face is sampled when Model's Temperature is off: "
                                           "0 = most likely (fewest blinks), 1 = as trained, more = livelier; "
                                           "the lips stay the same")
    rest_in_pauses: BoolProperty(name="Rest Mouth in Pauses", default=True,
                                 description="Close the mouth to the neutral rest where the audio pauses for 0.3 s "
                                             "or more (found from its level), easing out 0.2 s before speech")
    seal_lips: BoolProperty(name="Lip Contacts (P/B/M, F/V)", default=True,
                            description="Open the jaw as far as the model hears the lips open in the voice, "
                                        "close the lips where its detector hears a p, b or m, roll the "
                                        "lower lip in under the upper lip where it hears an f or v while the lips "
                                        "are nearly closed, and keep the lips at least 2 mm apart in speech where "
                                        "it hears neither (models without detectors, like the original release, "
                                        "are unaffected)")
    head_motion: BoolProperty(name="Head Motion", default=True,
                              description="The head nods on emphasis, shifts as phrases start and drifts (drawn "
                                          "by the seed): the MeshTalk head through its delta transforms, a "
                                          "character through its armature's head bone, each in its own NLA track "
                                          "(mute the track to turn it off)")
    keys: EnumProperty(name="Keys", default="REDUCED", items=[
        ("REDUCED", "Fewest Keys", "Shape-key outputs: Bezier keys only where the curves need them (within the "
                                   "tolerance), none for keys that stay near zero: easy to polish"),
        ("EVERY_FRAME", "Every Frame", "Shape-key outputs: a linear key at every frame, exactly the model's weights"),
    ])
    key_tolerance: FloatProperty(name="Tolerance", default=0.01, min=0.0005, max=0.2, precision=3,
                                 description="How far (in shape-key weight) the reduced curves may stray from the "
                                             "model's weights at any frame")
    resample_start: IntProperty(name="Start", default=1, description="First scene frame to resample")
    resample_end: IntProperty(name="End", default=48, description="Last scene frame to resample")
    variant_count: IntProperty(name="Variants", min=1, max=16, default=3,
                               description="How many upper-face variants to add as separate takes")
    cache_folder: StringProperty(name="Cache Folder", subtype="DIR_PATH", default="//meshtalk_cache/",
                                 options=RELATIVE_PATH, update=_approve_cache_folder,
                                 description="Where point caches are written (// = next to the .blend; another "
                                             "folder only once you choose it here)")


def _select_take(state, context) -> None:
    """A click in the takes list: that take plays for its line, and the panel shows its
    seed and temperature (so the next resample starts from what is playing)."""
    from . import playback  # bpy-dependent and loaded after registration

    if playback.quiet or not 0 <= state.active_take < len(state.takes):
        return
    take = state.takes[state.active_take]
    playback.play(state.id_data, take)
    show_take_settings(context.scene, take)


def show_take_settings(scene, take) -> None:
    settings = scene.meshtalk
    settings.seed, settings.temperature = take.seed, take.temperature


class MeshTalkTake(bpy.types.PropertyGroup):
    """One animation of one clip on one object (the result of Animate, a resample or a
    variant). Its latent is kept so that parts of it can be redrawn later."""

    output: StringProperty()
    action: PointerProperty(type=bpy.types.Action)
    cache_file: StringProperty(subtype="FILE_PATH", options=RELATIVE_PATH)
    basis_keys: StringProperty(description="JSON list of the shape keys this take created")
    key_names: StringProperty(description="JSON list of the shape keys this take animates, in weight order")
    labels: StringProperty(description="The take's latent labels, compressed")
    seed: IntProperty()
    temperature: FloatProperty()
    strip_name: StringProperty()
    sound: PointerProperty(type=bpy.types.Sound, description="The take's audio (resampling reads it again)")
    # JSON {"start", "duration", "fps"}: exact doubles (a FloatProperty is 32-bit, and
    # 29.97 fps frame counts must come out the same when the take is resampled).
    clock: StringProperty()
    start_frame: IntProperty()
    frames: IntProperty()
    model_label: StringProperty()
    mode: StringProperty()
    playing: BoolProperty(description="The take that plays for its line (its sound strip)")
    key_tolerance: FloatProperty(description="Its keys' tolerance when reduced (0: a key at every frame)")
    strengths: StringProperty(description="JSON: the strength factor its keys carry, per group")
    head_action: PointerProperty(type=bpy.types.Action,
                                 description="Its head motion (delta transforms, or the armature's head bone)")
    head_frame: StringProperty(description="JSON: the head motion's pivot and axes in the object's space, its bone")


def _apply_strengths(state, context) -> None:
    from . import strengths  # bpy-dependent and loaded after registration

    strengths.apply_to_object(state.id_data)


def _strength(label: str, what: str):
    return FloatProperty(name=label, min=0.0, max=2.0, soft_max=1.5, default=1.0, update=_apply_strengths,
                         description=f"How much of {what} the ARKit-weight takes play (1: as the model made it)")


class MeshTalkObjectState(bpy.types.PropertyGroup):
    """What MeshTalk made on one object, so that it can replace exactly that."""

    strength_mouth: _strength("Mouth", "the jaw, lips, cheeks and tongue")
    strength_blinks: _strength("Blinks", "the blinks")
    strength_brows: _strength("Brows", "the brows")
    strength_upper_face: _strength("Eyes", "the gaze, squints and wide eyes")
    strength_head: FloatProperty(name="Head", min=0.0, max=2.0, soft_max=1.5, default=1.0, update=_apply_strengths,
                                 description="How much of the head motion the takes play (1: as drawn)")

    takes: CollectionProperty(type=MeshTalkTake)
    active_take: IntProperty(name="Take", update=_select_take)
    take_counter: IntProperty(description="Numbers takes (names stay unique after removals)")
    created_reference_key: BoolProperty(description="MeshTalk added the Basis shape key")
    original_key_values: StringProperty(description="JSON: the user's shape-key values before MeshTalk")
    track_names: StringProperty(description="JSON: MeshTalk's NLA tracks on the shape keys")
    head_track_names: StringProperty(description="JSON: MeshTalk's NLA tracks of head motion on its owner")
    head_owner: StringProperty(description="The object the head motion is written on: this one, or its armature")
    basis_keys: StringProperty(description="JSON: the compact-basis shape keys the object's takes share, oldest first")
    line_modifiers: StringProperty(description="JSON: {line: its Mesh Cache modifier}")
    modifier_name: StringProperty(description="The one Mesh Cache modifier of files from before lines")


CLASSES = (MeshTalkSettings, MeshTalkTake, MeshTalkObjectState)


def register_properties() -> None:
    bpy.types.Scene.meshtalk = PointerProperty(type=MeshTalkSettings)
    bpy.types.Object.meshtalk = PointerProperty(type=MeshTalkObjectState)


def unregister_properties() -> None:
    del bpy.types.Object.meshtalk
    del bpy.types.Scene.meshtalk
