"""Optimisers for the training recipes, and the one place a recipe's ``optimizer`` name is resolved.

Fine-R1's learning rates are tiny (5e-6 for SFT, 1e-6 for TAPO). An AdamW step moves a weight by
about ``lr``, while a bfloat16 weight of magnitude 0.05 can only move in steps of ~2e-4: plain
AdamW on bf16 weights rounds almost every update away (measured: 0.66% of the weights changed in
two TAPO steps). Two remedies, both offered:

- ``adamw`` (default) on float32 weights with bf16 autocast (``dtype: float32, bf16: true``): the
  optimiser updates fp32 master weights, the forward and backward run in bf16;
- ``adamw_kahan`` for memory-tight runs that keep bf16 weights (``dtype: bfloat16``): AdamW whose
  update is added with Kahan-compensated summation, so the rounding error of every step is carried
  into the next one instead of lost (the released TAPO code's ``adamw_bf16`` strategy, an
  AnyPrecisionAdamW). On fp32 weights it is exact AdamW.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from finebench.training.preflight import OPTIMIZERS


class KahanAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay, bias-corrected moments) with Kahan-summed weight updates.

    The moments and the compensation buffer are stored in the parameter's dtype (as the release
    does: three bf16 buffers instead of fp32 master weights plus two fp32 moments), and every
    update is computed in float32. Per step, for a parameter ``p`` with compensation ``c``::

        u = -lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)   # the AdamW step, in fp32
        y = u + c                                                   # add what earlier steps lost
        p_new = round(p + y)                                         # to the parameter's dtype
        c = y - (p_new - p)                                          # what this step lost

    Weight decay is part of the compensated update rather than a separate multiplication of the
    bf16 weight, which would be rounded away just like the gradient step.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid KahanAdamW settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("KahanAdamW does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state["compensation"] = torch.zeros_like(p)
                state["step"] += 1
                step = state["step"]
                grad = p.grad.float()
                exp_avg = state["exp_avg"].float().mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq = state["exp_avg_sq"].float().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                state["exp_avg"].copy_(exp_avg)
                state["exp_avg_sq"].copy_(exp_avg_sq)
                denom = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(group["eps"])
                weight = p.to(torch.float32, copy=True)
                update = (exp_avg / (1 - beta1**step)).div_(denom)
                if group["weight_decay"]:
                    update.add_(weight, alpha=group["weight_decay"])
                compensated = update.mul_(-group["lr"]).add_(state["compensation"].float())
                p.copy_(weight + compensated)
                state["compensation"].copy_(compensated - (p.float() - weight))
        return loss


def optimizer_cls_and_kwargs(name: str, *, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
                             ) -> tuple[type[torch.optim.Optimizer], dict[str, Any]] | None:
    """``Trainer(optimizer_cls_and_kwargs=...)`` for a recipe's ``optimizer``; None keeps the
    Trainer's own AdamW (``adamw``). The Trainer adds the per-group weight decay (none on biases
    and norms) and its scheduler scales ``lr``."""
    if name == "adamw":
        return None
    if name == "adamw_kahan":
        return KahanAdamW, {"lr": lr, "betas": betas, "eps": eps}
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
