"""The hard synthetic variant (``finebench data synth --variant hard``, tasks ``synth_hard_*``).

The base variant draws a class almost the same way every time, so the positive image of a Stage-2
triplet adds nothing the anchor does not show, and every look-alike differs from the ground truth
in a whole-image property. Here, per image and seeded:

- nuisance that keeps the class: position, scale and any rotation of the shape, a cluttered
  background (greyish strokes and blobs), the colour jittered within its hue band (hue, saturation,
  brightness), the pattern's period and phase, partial occlusion of the shape's rim, pixel noise;
  so an anchor and its positive differ in everything but the class;
- a small, local difference between the closest look-alikes: the body of the shape is plain
  colour and the *pattern* shows only on a ringed badge at its centre (about a tenth of the
  shape's area), so two classes that differ in pattern differ in that badge alone. Stage-2
  negatives are drawn from these pattern look-alikes (the most similar classes).

Class names, attributes, the seen/unseen split and the file formats are the base variant's.
"""

from __future__ import annotations

import colorsys
import math
import random
from typing import TYPE_CHECKING

from finebench.data.synthetic import COLOURS, SynthClass, SynthVariant, pattern_mask, shape_mask

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

NAME = "synth_hard"
PATTERN_AXIS = 1
BADGE_FRACTION = 0.36
"""Badge radius / shape radius: the largest disc inside every shape (the cross's centre square
has half-width 0.38 of the radius, the triangle's incircle 0.5)."""
HUE_JITTER = 0.03
"""Hue jitter in turns; the four colours' hues are at least 0.13 turn apart."""


def jittered_colour(colour: str, rng: random.Random) -> np.ndarray:
    """The class colour moved within its hue band: hue +-HUE_JITTER, saturation and value scaled."""
    import numpy as np

    r, g, b = (v / 255.0 for v in COLOURS[colour])
    hue, saturation, value = colorsys.rgb_to_hsv(r, g, b)
    hue = (hue + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 1.0
    saturation = min(1.0, saturation * rng.uniform(0.7, 1.05))
    value = min(1.0, value * rng.uniform(0.75, 1.1))
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255.0


def _clutter(size: int, rng: random.Random) -> Image:
    """A light background with 6-12 greyish strokes and blobs (low saturation, so that no clutter
    reads as a class colour)."""
    from PIL import Image, ImageDraw

    level = rng.randint(165, 230)
    background = Image.new("RGB", (size, size), tuple(min(255, level + rng.randint(-12, 12)) for _ in range(3)))
    draw = ImageDraw.Draw(background)
    for _ in range(rng.randint(6, 12)):
        grey = rng.randint(90, 210)
        tint = tuple(max(0, min(255, grey + rng.randint(-20, 20))) for _ in range(3))
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        extent = rng.uniform(0.04, 0.16) * size
        if rng.random() < 0.5:
            angle = rng.uniform(0, math.pi)
            end = (x + extent * 2 * math.cos(angle), y + extent * 2 * math.sin(angle))
            draw.line([(x, y), end], fill=tint, width=max(1, size // 40))
        else:
            draw.ellipse([x - extent, y - extent * rng.uniform(0.4, 1.0), x + extent, y + extent], fill=tint)
    return background


def _occluder(size: int, cx: float, cy: float, radius: float, rng: random.Random) -> Image:
    """Mask of one grey blob over the shape's rim, kept clear of the central badge."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size, size), 0)
    angle = rng.uniform(0, 2 * math.pi)
    distance = radius * rng.uniform(0.95, 1.15)
    half = radius * rng.uniform(0.25, 0.45)
    ox, oy = cx + distance * math.cos(angle), cy + distance * math.sin(angle)
    ImageDraw.Draw(mask).ellipse([ox - half, oy - half * rng.uniform(0.5, 1.0), ox + half, oy + half], fill=255)
    return mask


def render_hard(cls: SynthClass, key: str, size: int) -> Image:
    """One image of ``cls``: nuisance drawn from ``key`` (see the module docstring), the pattern on
    the central badge only."""
    import numpy as np
    from PIL import Image

    rng = random.Random(f"synth-hard-image:{key}")
    pixels = np.asarray(_clutter(size, rng), dtype=np.float32)
    radius = size * rng.uniform(0.24, 0.38)
    margin = size / 2 - radius * 0.8
    cx = size / 2 + rng.uniform(-1, 1) * min(margin, 0.16 * size)
    cy = size / 2 + rng.uniform(-1, 1) * min(margin, 0.16 * size)
    body = np.asarray(shape_mask(cls.shape, size, cx, cy, radius, rng.uniform(0, 2 * math.pi)), np.float32) / 255
    colour = jittered_colour(cls.colour, rng)

    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.hypot(xx - cx, yy - cy)
    badge_radius = radius * BADGE_FRACTION
    badge = (distance <= badge_radius).astype(np.float32)
    ring = ((distance > badge_radius - max(1.0, size / 90)) & (distance <= badge_radius + max(1.0, size / 90)))
    period = max(4, round(badge_radius * rng.uniform(0.6, 0.8)))
    pattern = pattern_mask(cls.pattern, size, period=period, phase=rng.randrange(size))
    badge_fill = colour * pattern[..., None] + 255.0 * (1.0 - pattern[..., None])
    fill = np.where(badge[..., None] > 0, badge_fill, colour)
    fill = np.where(ring[..., None], np.float32(40.0), fill)
    pixels = pixels * (1.0 - body[..., None]) + fill * body[..., None]

    if rng.random() < 0.7:
        cover = np.asarray(_occluder(size, cx, cy, radius, rng), np.float32)[..., None] / 255
        grey = np.array([rng.randint(70, 200)] * 3, dtype=np.float32)
        pixels = pixels * (1.0 - cover) + grey * cover
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, 8.0, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")


HARD = SynthVariant(NAME, render_hard, image_size=84, negative_axes=(PATTERN_AXIS,))
