"""Which picture of an item's image a model is shown, per protocol.

``fine-r1`` shows the model exactly what the authors' evaluation showed it: their loop passes every
image through ``qwen_vl_utils`` (``finebench.util.imaging.prepare_image``: PIL bicubic to multiples of
28) before the processor, whatever the model. ``finebench`` hands the decoded image to the model's own
processor, so each model is resized by its own rule (the Qwen rule is foreign to InternVL or
LLaVA); for Qwen-VL models the two differ by the resampling filter only (max 0.02-0.09 in pixel
values, a few greedy answers in 200). Backends that resize by their own rules in any case (CLIP,
lmms-eval wrappers: ``Adapter.prepares_own_images``) always get the decoded image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from finebench.adapters.base import Adapter
from finebench.util.imaging import QWEN_VL_RULE, prepare_image

if TYPE_CHECKING:
    from PIL.Image import Image

DECODED_RULE = "decoded"
"""The decoded file, converted to RGB, unresized."""
PROTOCOL_IMAGE_RULES = {"fine-r1": QWEN_VL_RULE, "finebench": DECODED_RULE}


def image_rule(protocol: str, adapter: type[Adapter]) -> str:
    """The rule the images of a task under ``protocol`` are prepared with for this backend."""
    if adapter.prepares_own_images:
        return DECODED_RULE
    return PROTOCOL_IMAGE_RULES[protocol]


def _to_rgb(image: Image) -> Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def preparer(rule: str) -> Callable[[Image], Image]:
    """The function that turns a decoded image into the picture the model is shown."""
    return {QWEN_VL_RULE: prepare_image, DECODED_RULE: _to_rgb}[rule]
