"""The request object the harness hands to adapters (cf. lm-eval's ``api/instance.py``).

A request is everything an adapter needs to answer one question about one image; it carries no
scoring information, so an adapter cannot peek at the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PIL is only needed at run time by whoever builds requests
    from PIL.Image import Image


@dataclass(frozen=True, slots=True)
class Request:
    task: str
    doc_id: int
    trial: int
    prompt: str
    image: Image
    options: tuple[str, ...]
    """Candidate class names in the order shown in the prompt (contrastive adapters score these)."""
    gen_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Generation settings: ``do_sample``, ``max_new_tokens``, ``temperature``, ``seed``..."""
    system: str | None = None

    def messages(self) -> list[dict[str, Any]]:
        """Chat messages in the transformers/OpenAI multimodal layout: image first, then text."""
        user = {
            "role": "user",
            "content": [{"type": "image", "image": self.image}, {"type": "text", "text": self.prompt}],
        }
        if self.system is None:
            return [user]
        return [{"role": "system", "content": [{"type": "text", "text": self.system}]}, user]
