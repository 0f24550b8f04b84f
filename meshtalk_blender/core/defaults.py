"""Defaults that the pipeline, both command lines and the add-on's properties share. No
torch here: the add-on registers its properties, and --help answers, without loading it."""

# The prior's sampling temperature unless the user picks another. The paper samples at 1;
# measured on the bundled model's held-out voices and real recordings (its model card),
# 0.8 gives 18 blinks a minute (1.0: 32; the teacher 21) and seals 83 % of real p/b/m
# (1.0: 71 %) with the same lip vertex error.
DEFAULT_TEMPERATURE = 0.8
