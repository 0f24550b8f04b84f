"""Defaults that the pipeline, both command lines and the add-on's properties share. No
torch here: the add-on registers its properties, and --help answers, without loading it."""

# The prior's sampling temperature unless the user picks another. The paper samples at 1;
# measured on the bundled model's held-out voices (its model card), 1 gives 41 blinks a
# minute, 0.8 gives 37 and 0.6 gives 23 (the teacher 21, a person in conversation ~26), with
# the same lip vertex error (3.0 mm) and real-speech lip scores (r 0.83, 83 % sealed).
DEFAULT_TEMPERATURE = 0.6

# Seeds are stored in Blender's int properties (signed 32-bit), so the largest seed a take
# can keep is 2**31 - 1; every caller (both command lines, the add-on) is held to it by
# ``pipeline.AnimateOptions.validate``, so a take can always be redrawn from its seed.
MAX_SEED = 2**31 - 1
