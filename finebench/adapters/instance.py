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
    demonstrations: tuple[tuple[Image, str], ...] = ()
    """In-context examples (image, class name) shown before the query image, in this order."""
    strategy: str = "direct"
    """The run's inference strategy; generative adapters find it already applied to the prompt,
    contrastive ones act on it (``prompt-ensemble`` averages text embeddings over templates)."""

    def images(self) -> list[Image]:
        """Every image of the request in the order the messages show them (demonstrations first)."""
        return [image for image, _ in self.demonstrations] + [self.image]

    def messages(self) -> list[dict[str, Any]]:
        """Chat messages in the transformers/OpenAI multimodal layout: one user turn holding the
        demonstrations (image, then its label), then the query image, then the prompt."""
        content: list[dict[str, Any]] = []
        for number, (image, label) in enumerate(self.demonstrations, start=1):
            content.append({"type": "image", "image": image})
            content.append({"type": "text", "text": f"Example {number}: this is a {label}."})
        content.append({"type": "image", "image": self.image})
        content.append({"type": "text", "text": self.prompt})
        user = {"role": "user", "content": content}
        if self.system is None:
            return [user]
        return [{"role": "system", "content": [{"type": "text", "text": self.system}]}, user]
