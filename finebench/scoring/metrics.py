"""Per-sample metric formulas shared by both protocols."""

from __future__ import annotations

SS_EPSILON = 1e-8


def ss_relative(sim_pred_gt: float, sim_super_gt: float) -> float:
    """SS_relative = max(0, (s(pred, gt) - s(super, gt)) / (1 - s(super, gt))).

    How much closer the prediction is to the ground truth than the bare super-category word is,
    relative to the room left above that baseline. When the super-category word is already as
    close as possible (s(super, gt) = 1) there is no room and the score is 0 by definition.
    """
    room = 1.0 - sim_super_gt
    if room <= SS_EPSILON:
        return 0.0
    return max(0.0, (sim_pred_gt - sim_super_gt) / room)
