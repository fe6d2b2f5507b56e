"""TAPO's loss terms as pure functions of per-token log-probabilities (Fine-R1 §4.3).

Every function takes ``(B, T)`` tensors of log pi(o_t | ...) for the completion tokens, so the terms
can be checked by hand on fixed numbers, independently of any model or trainer:

- ``clipped_surrogate``: DAPO's decoupled clip, ``-min(r A, clip(r, 1-eps_low, 1+eps_high) A)``,
  optionally with the release's dual clip (``min(., -c A)`` where ``A < 0``) and log-ratio clamp;
- ``inter_class_kl``: ``g - log g - 1`` with ``g = pi(o_t|q,x_neg) / pi(o_t|q,x_*)``, the k3 estimate of
  KL(pi(.|x_*) || pi(.|x_neg)) on tokens sampled from the policy; the loss *subtracts* it, so
  the policy learns to answer differently when shown a look-alike of another sub-category;
- ``-log pi`` on both branches: the double entropy term that keeps the maximised KL from being won
  by blowing up the entropy of either distribution (PAPO's "double entropy loss").

All terms are averaged over tokens, never per sequence first (DAPO's token-level averaging), with
one shared normaliser: the token count of the accumulation window, so that accumulated
micro-batches add up to one mean, or each micro-batch's own count (the release's choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_LOG_RATIO_CLAMP = 20.0
"""|log g| is clamped before ``exp`` so one confidently-wrong token cannot overflow (released value)."""

DEFAULT_KL_MAX = 10.0
"""Per-token KL values are capped (released value): past the cap a token stops pushing the policy,
which keeps a maximised, unbounded objective from dominating the reward signal."""


def token_mean(
    values: torch.Tensor, mask: torch.Tensor, normalizer: torch.Tensor | float | None = None
) -> torch.Tensor:
    """Sum over unmasked tokens divided by ``normalizer`` (default: their count in this batch).

    A trainer passes the token count of the whole generation batch here, so that micro-batches of
    an accumulated step add up to one mean over all tokens instead of a mean of means.
    """
    total = (values * mask).sum()
    if normalizer is None:
        normalizer = mask.sum().clamp(min=1.0)
    return total / normalizer


def token_normalizer(
    token_mean: str,
    mask: torch.Tensor,
    generation_tokens: torch.Tensor,
    *,
    num_processes: int,
    accumulation_steps: int | None,
    steps_per_generation: int,
) -> torch.Tensor:
    """The token count one micro-batch's loss is divided by; ``accumulation_steps`` is None in eval.

    ``window``: the generation batch's tokens over all devices (``generation_tokens``), rescaled
    to one accumulation window, so that the accumulated micro-batches of every device add up to
    one token mean after the data-parallel gradient average (TRL's DAPO normaliser).
    ``micro_batch``: this micro-batch's own tokens times the accumulation steps (GRPO's loss is
    not divided again by the Trainer), i.e. the release's mean over micro-batches of per-micro-
    batch token means (``loss / gradient_accumulation``), devices averaged by the reduction.
    """
    if token_mean == "micro_batch":
        return mask.sum().clamp(min=1.0) * (accumulation_steps or 1)
    if token_mean != "window":
        raise ValueError(f"token_mean must be window or micro_batch, got {token_mean!r}")
    normalizer = generation_tokens.clamp(min=1.0) / num_processes
    if accumulation_steps is not None:  # in eval the batch is neither split across steps nor accumulated
        normalizer = normalizer * accumulation_steps / steps_per_generation
    return normalizer


@dataclass(frozen=True)
class TapoWeights:
    gamma: float = 0.01
    """Weight of the inter-class KL term (subtracted from the loss)."""
    eta_policy: float = 0.03
    """eta1: weight of -log pi(o|q,x_*) (policy-branch entropy estimate)."""
    eta_negative: float = 0.03
    """eta2: weight of -log pi(o|q,x_neg) (negative-branch entropy estimate)."""
    neg_grad: bool = True
    """Let gradients flow through the negative-image log-probs. The released code computes them
    without gradient (so its eta2 term is a constant); ``False`` reproduces that."""
    log_ratio_clamp: float = DEFAULT_LOG_RATIO_CLAMP
    kl_max: float = DEFAULT_KL_MAX
    kl_float32: bool = False
    """Compute the KL term in float32 (the release casts both log-probs first); False: in their dtype."""

    @property
    def needs_negative(self) -> bool:
        """Whether the negative-image forward pass contributes anything at all."""
        return self.gamma != 0.0 or self.eta_negative != 0.0


@dataclass(frozen=True)
class TapoTerms:
    """The weighted, normalised loss and each term per token (detached, for logging)."""

    loss: torch.Tensor
    surrogate: torch.Tensor
    policy_nll: torch.Tensor
    inter_class_kl: torch.Tensor | None
    negative_nll: torch.Tensor | None

    def token_means(self, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-token means over this batch; ``-log pi`` is reported as an entropy estimate."""
        means = {"surrogate": self.surrogate, "policy_entropy": self.policy_nll,
                 "inter_class_kl": self.inter_class_kl, "negative_entropy": self.negative_nll}
        return {name: token_mean(value, mask.to(value.dtype)) for name, value in means.items() if value is not None}


def _per_row(advantages: torch.Tensor) -> torch.Tensor:
    return advantages.unsqueeze(1) if advantages.dim() == 1 else advantages


@dataclass(frozen=True)
class ClipSettings:
    epsilon_low: float = 0.2
    epsilon_high: float = 0.28
    dual_clip: float | None = None
    """Dual-clip PPO's c (> 1): for A < 0 the loss is at most ``-c A`` (the release: 3.0)."""
    ratio_log_clamp: float | None = None
    """|log r| is clamped to this before ``exp`` (the release: 20.0)."""


def clipped_surrogate(
    logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, clip: ClipSettings
) -> torch.Tensor:
    """Per-token DAPO loss with the decoupled (asymmetric) clip; ``advantages`` is (B,) or (B, T).

    With ``dual_clip`` the loss of a negative-advantage token is ``min(max(-r A, -clip(r) A), -c A)``
    and with ``ratio_log_clamp`` r is ``exp(clamp(log r))``, both exactly as the release computes them.
    """
    log_ratio = logps - old_logps
    if clip.ratio_log_clamp is not None:
        log_ratio = torch.clamp(log_ratio, -clip.ratio_log_clamp, clip.ratio_log_clamp)
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1.0 - clip.epsilon_low, 1.0 + clip.epsilon_high)
    advantages = _per_row(advantages)
    loss = -torch.min(ratio * advantages, clipped * advantages)
    if clip.dual_clip is not None:
        loss = torch.where(advantages < 0, torch.minimum(loss, -clip.dual_clip * advantages), loss)
    return loss


def inter_class_kl(
    policy_logps: torch.Tensor,
    negative_logps: torch.Tensor,
    log_ratio_clamp: float = DEFAULT_LOG_RATIO_CLAMP,
    kl_max: float = DEFAULT_KL_MAX,
) -> torch.Tensor:
    """Per-token ``g - log g - 1``, ``log g = log pi_neg - log pi_*`` clamped, result capped at ``kl_max``."""
    log_g = torch.clamp(negative_logps - policy_logps, -log_ratio_clamp, log_ratio_clamp)
    return torch.clamp(torch.exp(log_g) - log_g - 1.0, max=kl_max)


def tapo_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    negative_logps: torch.Tensor | None,
    weights: TapoWeights,
    clip: ClipSettings,
    normalizer: torch.Tensor | float | None = None,
    importance_weights: torch.Tensor | None = None,
) -> TapoTerms:
    """DAPO surrogate - gamma * KL_inter + eta1 * H(x_*) + eta2 * H(x_neg), each token-averaged.

    ``logps`` are conditioned on x_* (the image each rollout is updated on), ``negative_logps`` on the
    negative image, both for the same completion tokens. ``importance_weights`` (vLLM's sampler
    correction, (B, T) or (B, 1)) scale only the surrogate, as in TRL. With gamma = eta1 = eta2 = 0
    the result is exactly the DAPO loss and ``negative_logps`` may be None.
    """
    mask = mask.to(logps.dtype)
    surrogate = clipped_surrogate(logps, old_logps, advantages, clip)
    if importance_weights is not None:
        surrogate = surrogate * importance_weights
    loss = token_mean(surrogate, mask, normalizer) + weights.eta_policy * token_mean(-logps, mask, normalizer)
    if negative_logps is None:
        if weights.needs_negative:
            raise ValueError("gamma or eta_negative is non-zero but no negative-image log-probs were given")
        return TapoTerms(loss, surrogate.detach(), -logps.detach(), None, None)
    if not weights.neg_grad:
        negative_logps = negative_logps.detach()
    kl_inputs = (logps.float(), negative_logps.float()) if weights.kl_float32 else (logps, negative_logps)
    kl = inter_class_kl(*kl_inputs, weights.log_ratio_clamp, weights.kl_max)
    loss = loss - weights.gamma * token_mean(kl, mask, normalizer)
    loss = loss + weights.eta_negative * token_mean(-negative_logps, mask, normalizer)
    return TapoTerms(loss, surrogate.detach(), -logps.detach(), kl.detach(), -negative_logps.detach())
