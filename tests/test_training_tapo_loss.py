"""Each TAPO loss term against a hand computation on fixed log-probs (Fine-R1 §4.3, Eq. 2-4)."""

from __future__ import annotations

import math

import pytest
import torch

from finebench.training.tapo.loss import (
    ClipSettings,
    TapoWeights,
    clipped_surrogate,
    inter_class_kl,
    tapo_loss,
    token_mean,
)

LOGPS = [[-1.0, -2.0, -0.5], [-0.2, -3.0, -1.0]]
OLD = [[-1.0, -2.5, -0.1], [-0.2, -2.0, -1.0]]
NEGATIVE = [[-1.5, -1.0, -0.5], [-0.7, -40.0, -5.0]]
MASK = [[1, 1, 1], [1, 1, 0]]
ADVANTAGES = [1.0, -2.0]
EPS_LOW, EPS_HIGH = 0.2, 0.28
CLIP = ClipSettings(EPS_LOW, EPS_HIGH)
TOKENS = 5  # unmasked tokens


def t(values, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


def hand_surrogate_tokens() -> list[float]:
    """-min(r A, clip(r) A) for the five unmasked tokens, written out."""
    clip = lambda r: min(max(r, 1 - EPS_LOW), 1 + EPS_HIGH)  # noqa: E731
    values = []
    for row, advantage in enumerate(ADVANTAGES):
        for col in range(3):
            if MASK[row][col]:
                r = math.exp(LOGPS[row][col] - OLD[row][col])
                values.append(-min(r * advantage, clip(r) * advantage))
    return values


def hand_kl_tokens() -> list[float]:
    """g - log g - 1 with log g = log pi_neg - log pi_*, clamped to +-20, capped at 10."""
    values = []
    for row in range(2):
        for col in range(3):
            if MASK[row][col]:
                log_g = max(-20.0, min(20.0, NEGATIVE[row][col] - LOGPS[row][col]))
                values.append(min(math.exp(log_g) - log_g - 1.0, 10.0))
    return values


def test_clipped_surrogate_uses_the_decoupled_clip() -> None:
    per_token = clipped_surrogate(t(LOGPS), t(OLD), t(ADVANTAGES), CLIP)
    got = [per_token[r, c].item() for r in range(2) for c in range(3) if MASK[r][c]]
    assert got == pytest.approx(hand_surrogate_tokens())
    # the two clipped tokens: ratio e^0.5 capped at 1.28 (A > 0), ratio e^-1 floored at 0.8 (A < 0)
    assert per_token[0, 1].item() == pytest.approx(-1.28)
    assert per_token[1, 1].item() == pytest.approx(1.6)


def test_token_mean_averages_over_tokens_not_sequences() -> None:
    values = t([[1.0, 1.0, 1.0], [4.0, 0.0, 100.0]])
    assert token_mean(values, t(MASK)).item() == pytest.approx(7.0 / 5)  # per-sequence first would be 1.5
    assert token_mean(values, t(MASK), normalizer=14.0).item() == pytest.approx(0.5)


def test_inter_class_kl_values_and_clamps() -> None:
    kl = inter_class_kl(t(LOGPS), t(NEGATIVE))
    got = [kl[r, c].item() for r in range(2) for c in range(3) if MASK[r][c]]
    assert got == pytest.approx(hand_kl_tokens())
    assert got[1] == pytest.approx(math.e - 2.0)  # log g = 1
    assert got[4] == 10.0  # log g = -37 is clamped to -20, and 19 is capped at 10
    assert kl.min().item() >= 0.0  # g - log g - 1 >= 0 for every g > 0
    huge = inter_class_kl(t([[-30.0]]), t([[0.0]]))  # log g = 30 would overflow float16/32 without the clamp
    assert huge.item() == 10.0


def test_capped_kl_tokens_stop_pushing() -> None:
    logps = t(LOGPS, requires_grad=True)
    inter_class_kl(logps, t(NEGATIVE))[1, 1].backward()
    assert logps.grad[1, 1].item() == 0.0


def test_full_loss_is_eq4_by_hand() -> None:
    weights = TapoWeights(gamma=0.01, eta_policy=0.03, eta_negative=0.03)
    terms = tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), negative_logps=t(NEGATIVE), weights=weights,
                      clip=CLIP)
    surrogate = sum(hand_surrogate_tokens()) / TOKENS
    kl = sum(hand_kl_tokens()) / TOKENS
    policy_entropy = (1.0 + 2.0 + 0.5 + 0.2 + 3.0) / TOKENS
    negative_entropy = (1.5 + 1.0 + 0.5 + 0.7 + 40.0) / TOKENS
    expected = surrogate - 0.01 * kl + 0.03 * policy_entropy + 0.03 * negative_entropy
    assert terms.loss.item() == pytest.approx(expected)
    means = {k: v.item() for k, v in terms.token_means(t(MASK)).items()}
    assert means == pytest.approx({"surrogate": surrogate, "inter_class_kl": kl, "policy_entropy": policy_entropy,
                                   "negative_entropy": negative_entropy})


def test_a_shared_normalizer_scales_every_term() -> None:
    weights = TapoWeights()
    common = dict(negative_logps=t(NEGATIVE), weights=weights, clip=CLIP)
    own = tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), **common).loss
    shared = tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), normalizer=2.0 * TOKENS, **common).loss
    assert shared.item() == pytest.approx(own.item() / 2)


def test_with_zero_weights_the_loss_is_plain_dapo() -> None:
    logps = t(LOGPS, requires_grad=True)
    weights = TapoWeights(gamma=0.0, eta_policy=0.0, eta_negative=0.0)
    assert not weights.needs_negative
    loss = tapo_loss(logps, t(OLD), t(ADVANTAGES), t(MASK), negative_logps=None, weights=weights,
                     clip=CLIP).loss
    assert loss.item() == pytest.approx(sum(hand_surrogate_tokens()) / TOKENS)
    dapo = token_mean(clipped_surrogate(logps, t(OLD), t(ADVANTAGES), CLIP), t(MASK))
    assert torch.equal(loss, dapo)
    (grad_tapo,) = torch.autograd.grad(loss, logps)
    (grad_dapo,) = torch.autograd.grad(dapo, logps)
    assert torch.equal(grad_tapo, grad_dapo)


def test_importance_weights_scale_only_the_surrogate() -> None:
    weights = TapoWeights(gamma=0.0, eta_policy=0.5, eta_negative=0.0)
    common = dict(negative_logps=None, weights=weights, clip=CLIP)
    plain = tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), **common).loss
    halved = tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), importance_weights=t([[0.5], [0.5]]), **common).loss
    surrogate = sum(hand_surrogate_tokens()) / TOKENS
    assert (plain - halved).item() == pytest.approx(surrogate / 2)


@pytest.mark.parametrize("neg_grad", [True, False])
def test_gradient_reaches_the_negative_branch_only_when_enabled(neg_grad: bool) -> None:
    logps, negative = t(LOGPS, requires_grad=True), t(NEGATIVE, requires_grad=True)
    weights = TapoWeights(gamma=0.01, eta_policy=0.03, eta_negative=0.03, neg_grad=neg_grad)
    tapo_loss(logps, t(OLD), t(ADVANTAGES), t(MASK), negative_logps=negative, weights=weights,
              clip=CLIP).loss.backward()
    assert logps.grad is not None
    if not neg_grad:
        assert negative.grad is None
        return
    # d/d log pi_neg of [-gamma (g - log g - 1) + eta2 (-log pi_neg)] / N = [-gamma (g - 1) - eta2] / N
    assert negative.grad[0, 1].item() == pytest.approx((-0.01 * (math.e - 1.0) - 0.03) / TOKENS)
    assert negative.grad[1, 1].item() == pytest.approx(-0.03 / TOKENS)  # capped KL: entropy gradient only
    assert negative.grad[1, 2].item() == 0.0  # masked


def test_missing_negative_log_probs_are_an_error_when_they_matter() -> None:
    with pytest.raises(ValueError, match="negative-image"):
        tapo_loss(t(LOGPS), t(OLD), t(ADVANTAGES), t(MASK), negative_logps=None, weights=TapoWeights(),
                  clip=CLIP)
