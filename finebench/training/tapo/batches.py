"""Batch surgery on TRL's rollout dictionaries: concatenating rounds (prompts left-padded, completions
right-padded), selecting kept rollouts, and collating the negative-image re-encodings for the
inter-class forward pass. Pure tensor code, tested without a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl.trainer.utils import pad, split_pixel_values_by_grid, unsplit_pixel_values_by_grid

LEFT_PADDED = {"prompt_ids": None, "prompt_mask": 0}
"""Prompt-side tensors and their padding value (None: the tokenizer's pad id)."""


RIGHT_PADDED = {
    "completion_ids": None,
    "completion_mask": 0,
    "old_per_token_logps": 0.0,
    "sampling_per_token_logps": 0.0,
    "importance_sampling_ratio": 0.0,
    "ref_per_token_logps": 0.0,
    "tool_mask": 1,
}
"""Completion-side tensors and their padding value, as TRL pads them."""


SPANNING = ("mm_token_type_ids", "token_type_ids")
"""Per-token tensors over prompt + completion: the prompt part is left-, the rest right-padded."""


PER_SAMPLE_LISTS = ("pixel_values", "image_grid_thw", "num_images")


ENCODED_KEYS = {"input_ids", "attention_mask", "pixel_values", "image_grid_thw", *SPANNING}


# ---- re-padding TRL's rollout batches ---------------------------------------------------------------
def _pad_width(tensor: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    missing = width - tensor.size(1)
    return F.pad(tensor, (missing, 0) if left else (0, missing), value=value) if missing else tensor


def _cat_padded(tensors: Sequence[torch.Tensor], value: float, left: bool) -> torch.Tensor:
    width = max(t.size(1) for t in tensors)
    return torch.cat([_pad_width(t, width, value, left) for t in tensors])


def concat_rollouts(batches: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """TRL rollout batches (as ``_generate_and_score_completions`` returns them) as one batch, each
    tensor re-padded on its side; ``num_items_in_batch`` is left out (the caller recounts it)."""
    batches = [split_pixel_values_by_grid(b) for b in batches]
    merged: dict[str, Any] = {}
    keys = [key for key in batches[0] if key != "num_items_in_batch"]
    for key in keys:
        values = [b[key] for b in batches]
        if key in LEFT_PADDED or key in RIGHT_PADDED:
            pad_value = {**LEFT_PADDED, **RIGHT_PADDED}[key]
            merged[key] = _cat_padded(values, pad_token_id if pad_value is None else pad_value, key in LEFT_PADDED)
        elif key in SPANNING:
            widths = [b["prompt_ids"].size(1) for b in batches]
            prompt_part = _cat_padded([v[:, :w] for v, w in zip(values, widths, strict=True)], 0, left=True)
            completion_part = _cat_padded([v[:, w:] for v, w in zip(values, widths, strict=True)], 0, left=False)
            merged[key] = torch.cat([prompt_part, completion_part], dim=1)
        elif key == "advantages":
            merged[key] = torch.cat(values)
        elif key in PER_SAMPLE_LISTS:
            merged[key] = [item for value in values for item in value]
        else:
            raise ValueError(f"TAPO cannot merge rollout field {key!r} (unsupported model inputs)")
    return merged


def select_rollouts(batch: dict[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """Rows ``rows`` of a merged batch, pixel values joined back as TRL expects them."""
    index = torch.tensor(rows, dtype=torch.long)
    selected = {
        key: [value[i] for i in rows] if isinstance(value, list) else value[index.to(value.device)]
        for key, value in batch.items()
    }
    return unsplit_pixel_values_by_grid(selected)


def collate_negative(inputs: dict[str, Any], pad_token_id: int, completion_width: int) -> dict[str, Any]:
    """The per-sample ``neg_*`` entries of a (shuffled, split) batch as model inputs for one forward."""
    ids = inputs["neg_prompt_ids"]
    collated: dict[str, Any] = {
        "prompt_ids": pad(ids, padding_value=pad_token_id, padding_side="left"),
        "prompt_mask": pad([torch.ones_like(t) for t in ids], padding_value=0, padding_side="left"),
        "pixel_values": torch.cat(inputs["neg_pixel_values"]),
        "image_grid_thw": torch.cat(inputs["neg_image_grid_thw"]),
        "num_images": [1] * len(ids),
    }
    for key in SPANNING:
        if f"neg_{key}" in inputs:
            prompt_part = pad(inputs[f"neg_{key}"], padding_value=0, padding_side="left")
            collated[key] = torch.cat([prompt_part, prompt_part.new_zeros(len(ids), completion_width)], dim=1)
    return collated


FORWARD_KEYS = (
    "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
    "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids",
)
"""Keyword arguments of ``GRPOTrainer._get_per_token_logps_and_entropies`` that come from a batch."""


@dataclass
class Round:
    """One generation round on this device: rollout rows (prompts, images), TRL's batch, rewards."""

    rows: list[dict[str, Any]]
    batch: dict[str, Any]
    rewards: torch.Tensor
    """(rows, reward functions) of this device."""
    informative: list[bool]
    """Per group of this device: does dynamic sampling keep it?"""
    informative_per_device: list[int]
    """Kept groups of every device, known everywhere because TRL gathers the rewards."""

    def only(self, groups: Sequence[int], group_size: int, pad_token_id: int) -> Round:
        """This round reduced to ``groups`` (so dropped rollouts do not stay in memory)."""
        rows = [g * group_size + k for g in groups for k in range(group_size)]
        batch = select_rollouts(concat_rollouts([self.batch], pad_token_id), rows)
        return Round(
            [self.rows[i] for i in rows], batch, self.rewards[rows], [self.informative[g] for g in groups],
            self.informative_per_device,
        )
