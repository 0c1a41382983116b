"""The sizes and counts the toolkit accepts, and the face detector's default threshold, in one module that
imports nothing heavy, so that command-line help (which shows them) answers without numpy or torch."""

# The most frames an animation may have (a sweep's COUNT, a morph's steps). Frames are rendered and written
# batch by batch, so the bound is about time and disk, not memory: 10,000 frames last 17 minutes at 10 fps,
# take hours to render on a CPU and gigabytes of GIF at 1024x1024. More than that is a typo.
MAX_FRAMES = 10_000

# The largest aligned size. StyleGAN2 generators go up to 1024 (a few to 2048); the quad is resampled at
# 4x the size first (invert.align.SUPERSAMPLE), so 4096 already needs a 16384x16384 RGB intermediate
# (0.8 GB). More is a typo.
MAX_ALIGN_SIZE = 4096

# Detections scoring less are not faces. dlib's detector reports every window with a positive margin: on
# the astronaut photo the face scores 1.16 and the spacesuit and shirt windows 0.007-0.24. 0.3 sits above
# those and far below the face; small, blurred or turned faces score lower, so callers can lower it.
MIN_FACE_SCORE = 0.3
