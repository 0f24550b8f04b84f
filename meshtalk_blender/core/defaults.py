"""Defaults that the pipeline, both command lines and the add-on's properties share. No
torch here: the add-on registers its properties, and --help answers, without loading it."""

# The prior's sampling temperature unless the user picks another. The paper samples at 1;
# measured on the bundled model's held-out voices (its model card), 1 gives 41 blinks a
# minute, 0.8 gives 37 and 0.6 gives 23 (the teacher 21, a person in conversation ~26), with
# the same lip vertex error (3.0 mm) and real-speech lip scores (r 0.83, 83 % sealed).
DEFAULT_TEMPERATURE = 0.6


def stored_temperature(info: dict) -> float:
    """The sampling temperature a model folder's config.json (``info``) stores for it,
    DEFAULT_TEMPERATURE where it stores none (bundles made before they did); ValueError
    for anything else than a number from 0 to 10."""
    temperature = info.get("temperature", DEFAULT_TEMPERATURE)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0.0 <= temperature <= 10.0:
        raise ValueError(f"temperature must be a number from 0 to 10 (got {temperature!r})")
    return float(temperature)

# Seeds are stored in Blender's int properties (signed 32-bit), so the largest seed a take
# can keep is 2**31 - 1; every caller (both command lines, the add-on) is held to it by
# ``pipeline.AnimateOptions.validate``, so a take can always be redrawn from its seed.
MAX_SEED = 2**31 - 1
