"""The TAPO options that reproduce the released code, each against a hand computation: dual clip,
log-ratio clamp, per-micro-batch token mean, PIL resize to the pixel bounds, the negative image
scored under the old policy, accuracy-keyed dynamic sampling, and the sign-flipped control."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from finebench.training.tapo.config import config_from_mapping
from finebench.training.tapo.loss import ClipSettings, clipped_surrogate, token_normalizer
from finebench.training.tapo.sampling import informative_groups
from finebench.util.errors import ConfigError
from tests.test_training_tapo_trainer import groups_of, make_trainer, scripted_accuracy, zero_format


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---- dual clip and log-ratio clamp ------------------------------------------------------------


def test_dual_clip_caps_the_loss_of_negative_advantage_tokens_at_c_times_minus_a() -> None:
    # log-ratios 2.0 (r = 7.39), 0.1 (r = 1.105) and -1.0 (r = 0.368), each with A = -1 and A = +1
    logps, old = t([[2.0, 0.1, -1.0], [2.0, 0.1, -1.0]]), t([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    advantages = t([-1.0, 1.0])
    plain = clipped_surrogate(logps, old, advantages, ClipSettings(0.2, 0.28))
    dual = clipped_surrogate(logps, old, advantages, ClipSettings(0.2, 0.28, dual_clip=3.0))
    # A = -1: loss = max(r, clip(r)) -> 7.389, 1.105, 0.8; the dual clip caps it at 3 * 1 = 3
    assert plain[0].tolist() == pytest.approx([math.exp(2.0), math.exp(0.1), 0.8])
    assert dual[0].tolist() == pytest.approx([3.0, math.exp(0.1), 0.8])
    # A = +1: loss = -min(r, clip(r)) -> -1.28, -1.105, -0.368; the dual clip does not apply
    assert dual[1].tolist() == plain[1].tolist() == pytest.approx([-1.28, -math.exp(0.1), -math.exp(-1.0)])


def test_the_log_ratio_clamp_bounds_the_ratio_and_its_gradient() -> None:
    logps = torch.tensor([[25.0, -25.0, 1.0]], dtype=torch.float64, requires_grad=True)
    old = t([[0.0, 0.0, 0.0]])
    clip = ClipSettings(0.2, 0.28, dual_clip=3.0, ratio_log_clamp=20.0)
    loss = clipped_surrogate(logps, old, t([-1.0]), clip)
    # r = e^20 (clamped from e^25), e^-20 (from e^-25), e^1: losses min(max(r, clip r), 3) = 3, 0.8, 2.718
    assert loss[0].tolist() == pytest.approx([3.0, 0.8, math.e])
    loss.sum().backward()
    assert logps.grad[0].tolist() == pytest.approx([0.0, 0.0, math.e])  # clamped tokens push nothing
    unclamped = clipped_surrogate(t([[25.0]]), t([[0.0]]), t([1.0]), ClipSettings(0.2, 0.28))
    assert unclamped.item() == pytest.approx(-1.28)  # the clip alone handles the A > 0 side


# ---- token means --------------------------------------------------------------------------------


def test_token_normalizers_by_hand() -> None:
    mask = t([[1, 1, 1, 0], [1, 0, 0, 0]])  # 4 tokens in this micro-batch
    generation_tokens = torch.tensor(48.0)  # all devices, whole generation batch
    window = dict(num_processes=2, steps_per_generation=6)
    # window: 48 tokens / 2 devices = 24 per device per generation, x 3 accumulation steps / 6 micro-batches
    assert token_normalizer("window", mask, generation_tokens, accumulation_steps=3, **window).item() == 12.0
    assert token_normalizer("window", mask, generation_tokens, accumulation_steps=None, **window).item() == 24.0
    # micro_batch: this micro-batch's 4 tokens x 3 accumulation steps (the release: mean / gradient_accumulation)
    assert token_normalizer("micro_batch", mask, generation_tokens, accumulation_steps=3, **window).item() == 12.0
    other = t([[1, 1, 1, 1], [1, 1, 1, 1]])
    assert token_normalizer("micro_batch", other, generation_tokens, accumulation_steps=3, **window).item() == 24.0
    assert token_normalizer("micro_batch", mask, generation_tokens, accumulation_steps=None, **window).item() == 4.0


# ---- trainer-level options on the tiny model -------------------------------------------------------


@pytest.fixture
def make(tiny_model_dir: Path, tapo_stage2_file: Path, tmp_path: Path):
    return lambda **changes: make_trainer(tiny_model_dir, tapo_stage2_file, tmp_path, **changes)


def test_micro_batch_token_mean_divides_each_micro_batch_by_its_own_tokens(make) -> None:
    trainer = make(token_mean="micro_batch", gamma=0.0, eta_policy=0.0, eta_negative=0.0, dynamic_sampling=False)
    trainer.current_gradient_accumulation_steps = 2
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    generator = torch.Generator().manual_seed(1)
    batch["advantages"] = torch.randn(8, generator=generator)
    loss = trainer._compute_loss(trainer.model, batch)
    with torch.no_grad():
        logps = trainer._completion_logps(trainer.model, batch, batch)
    mask = batch["completion_mask"].float()
    # on-policy (old = new): the surrogate per token is -A; the micro-batch mean, halved for 2 steps
    expected = (-batch["advantages"][:, None] * mask).sum() / mask.sum() / 2
    assert logps.shape == mask.shape
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_negative_scored_under_the_old_policy_once_per_rollout_batch(make) -> None:
    trainer = make(negative_policy="old", neg_grad=False, gamma=0.0, eta_policy=0.0, eta_negative=1.0,
                   dynamic_sampling=False)
    inputs = groups_of(trainer, [0, 1])
    batch = trainer._generate_and_score_completions(inputs)
    assert not any(key.startswith("neg_prompt") for key in batch)  # no per-micro-batch negative forward
    negative = trainer._negative_inputs(trainer._rollout_rows(inputs))
    old = batch["neg_old_per_token_logps"]
    mask = batch["completion_mask"].bool()
    with torch.no_grad():
        direct = trainer._old_negative_logps(negative, batch)
    torch.testing.assert_close(old[mask], direct[mask])
    # after an update the old scores stay what they were: the loss is their constant -log pi mean
    with torch.no_grad():
        for param in trainer.model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    loss = trainer._compute_loss(trainer.model, {**batch, "advantages": torch.zeros(8)})
    assert loss.item() == pytest.approx((-old * mask).sum().item() / mask.sum().item(), rel=1e-5)
    grads = torch.autograd.grad(loss, list(trainer.model.parameters()), allow_unused=True)
    assert all(g is None or not g.any() for g in grads)


def test_negative_policy_old_needs_neg_grad_false(tmp_path: Path) -> None:
    base = {"model": "m", "train_data": "d.json", "output_dir": "o", "negative_policy": "old"}
    with pytest.raises(ConfigError, match="key 'negative_policy' is 'old', whose scores carry no gradient"):
        config_from_mapping(base, "r.yaml")
    assert config_from_mapping({**base, "neg_grad": False}, "r.yaml").negative_policy == "old"
    for key, value, message in (("dual_clip", 1.0, "greater than 1"), ("ratio_log_clamp", 0.0, "positive"),
                                ("token_mean", "sequence", "one of window, micro_batch"),
                                ("image_resize", "pil", "one of processor, release"),
                                ("optimizer", "sgd", "one of adamw, adamw_kahan")):
        with pytest.raises(ConfigError, match=f"r.yaml: key '{key}' must be {message}"):
            config_from_mapping({"model": "m", "train_data": "d", "output_dir": "o", key: value}, "r.yaml")
    with pytest.raises(ConfigError, match="key 'image_resize' is 'release' but neither min_pixels nor max_pixels"):
        config_from_mapping({"model": "m", "train_data": "d", "output_dir": "o", "image_resize": "release"}, "r.yaml")


def test_negate_advantages_flips_every_advantage(make) -> None:
    script = [[1, 0, 1, 0, 1, 1, 0, 0]]
    advantages = []
    for negate in (False, True):
        trainer = make(negate_advantages=negate, dynamic_sampling=False)
        trainer.reward_funcs = [scripted_accuracy(script), zero_format]
        advantages.append(trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))["advantages"])
    assert advantages[0].abs().sum() > 0
    torch.testing.assert_close(advantages[1], -advantages[0])


# ---- images -------------------------------------------------------------------------------------


def test_release_resize_by_hand() -> None:
    from finebench.training.images import scale_into_bounds as release_pixel_resize

    big = Image.new("RGB", (1000, 750))
    # factor sqrt(200000 / 750000) = 0.5164: sides int(516.4) = 516 and int(387.3) = 387
    assert release_pixel_resize(big, None, 200_000).size == (516, 387)
    small = Image.new("RGB", (10, 20))
    # factor sqrt(1024 / 200) = 2.2627: sides int(22.6) = 22, int(45.3) = 45, i.e. 990 pixels < 1024
    assert release_pixel_resize(small, 1024, None).size == (22, 45)
    fine = Image.new("RGB", (300, 200))
    assert release_pixel_resize(fine, 1024, 768 * 768) is fine


def qwen_grid(width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's smart_resize, by hand: sides rounded to multiples of 28, area into the bounds."""
    h, w = max(28, round(height / 28) * 28), max(28, round(width / 28) * 28)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / 28) * 28, math.floor(width / beta / 28) * 28
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / 28) * 28, math.ceil(width * beta / 28) * 28
    return h // 14, w // 14


COMMON_SIZES = ((640, 480), (800, 600), (1024, 768), (1280, 720), (1920, 1080), (500, 375), (500, 333),
                (375, 500), (300, 200), (224, 224), (256, 256), (512, 512), (1600, 1200), (2048, 1536), (333, 500))


def test_release_resize_gives_the_release_token_grid(make, tmp_path: Path) -> None:
    from finebench.training.images import release_rl_image

    low, high = 200704, 1003520  # the release's bounds (256 and 1280 x 28 x 28)
    trainer = make(image_resize="release", min_pixels=low, max_pixels=high, dynamic_sampling=False)
    processor = trainer.processing_class.image_processor
    own = (processor.size["shortest_edge"], processor.size["longest_edge"])  # the release leaves them alone
    assert own != (low, high)
    differing = 0
    for width, height in COMMON_SIZES:
        path = tmp_path / f"{width}x{height}.png"
        Image.new("RGB", (width, height), (90, 120, 30)).save(path)
        for role, passes in (("anchor", 1), ("negative", 2)):
            loaded = trainer._load_image(str(path), role)
            release = Image.new("RGB", (width, height))
            for _ in range(passes):
                release = release_rl_image(release, low, high)
            assert loaded.size == release.size
            grid = processor(images=[loaded], return_tensors="pt")["image_grid_thw"][0].tolist()
            assert tuple(grid[1:]) == qwen_grid(*release.size, *own)
        differing += qwen_grid(width, height, low, high) != qwen_grid(*release.size, *own)
    assert differing >= 5  # the resize matters: many common sizes get another grid than the processor's


# ---- dynamic sampling key ---------------------------------------------------------------------------


def release_filter(accuracies: list[list[float]]) -> list[bool]:
    """The released DAPO filter, written from its description: keep a group iff its mean
    accuracy lies strictly between filter_low = 0.01 and filter_high = 0.99."""
    return [0.01 < sum(group) / len(group) < 0.99 for group in accuracies]


def test_accuracy_key_keeps_exactly_the_groups_the_release_keeps() -> None:
    rng = random.Random(0)
    groups, size = 20_000, 10
    accuracy, fmt = [], []
    for _ in range(groups):
        p, q = rng.random() ** 2, rng.random()  # many easy/hard prompts, as after SFT
        accuracy.append([float(rng.random() < p) for _ in range(size)])
        fmt.append([float(rng.random() < q) for _ in range(size)])
    acc = torch.tensor(accuracy).view(-1)
    reward = 0.9 * acc + 0.1 * torch.tensor(fmt).view(-1)
    ours = informative_groups(acc, size).tolist()
    assert ours == release_filter(accuracy)
    by_reward = informative_groups(reward, size)
    assert by_reward.sum() > sum(ours)  # groups all right or all wrong but differing in format
    print(f"kept of {groups}: accuracy key {sum(ours)}, reward key {int(by_reward.sum())}")


def test_dynamic_sampling_filters_on_accuracy_by_default(make) -> None:
    trainer = make(max_resample_rounds=0)
    assert trainer.tapo.dynamic_sampling_key == "accuracy"
    # group 0: all wrong but formats differ -> uninformative on accuracy; group 1: mixed accuracy
    def formats(completions, **_: Any) -> list[float]:
        return [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]

    trainer.reward_funcs = [scripted_accuracy([[0, 0, 0, 0, 1, 0, 0, 0]]), formats]
    trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    metrics = trainer._metrics["train"]
    assert (metrics["tapo/kept_groups"], metrics["tapo/dropped_groups"]) == ([1.0], [1.0])


# ---- the release's dynamic-sampling rule in the trainer ------------------------------------------


RELEASE_SAMPLING = dict(filter_low=0.01, filter_high=0.99, keep_all_when_none_kept=True, max_resample_rounds=None,
                        refill_prompts=2, refill_order="sequential", group_count="global")


def recording_rounds(trainer) -> list[list[dict[str, Any]]]:
    seen: list[list[dict[str, Any]]] = []
    original = trainer._run_round
    trainer._run_round = lambda inputs: seen.append(inputs) or original(inputs)
    return seen


def test_release_sampling_keeps_a_block_that_keeps_nothing_and_refills_in_stream_order(make) -> None:
    from finebench.training.tapo.sampling import PromptStream

    trainer = make(**RELEASE_SAMPLING)
    # round 0: group 0 all wrong (dropped), group 1 mixed (kept) -> 1 of 2;
    # refill (the stream's next 2 prompts): all right + all wrong -> the block keeps none, so both are kept
    trainer.reward_funcs = [scripted_accuracy([[0, 0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]]), zero_format]
    seen = recording_rounds(trainer)
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    refill = PromptStream(len(trainer.train_dataset), trainer.args.seed).take(2)
    assert [row["image"] for row in seen[1][::4]] == [trainer.train_dataset[i]["image"] for i in refill]
    metrics = trainer._metrics["train"]
    assert (metrics["tapo/kept_groups"], metrics["tapo/dropped_groups"], metrics["tapo/short_groups"]) == (
        [2.0], [1.0], [0.0])
    assert metrics["tapo/resample_rounds"] == [1]
    advantages = batch["advantages"]
    assert advantages[:4].abs().min() > 0.1  # round 0's mixed group first, then the kept all-right group
    assert advantages[4:].abs().max() < 1e-3


def test_release_sampling_refills_without_limit(make) -> None:
    trainer = make(**{**RELEASE_SAMPLING, "keep_all_when_none_kept": False})
    wrong, mixed = [0] * 8, [1, 0, 0, 0, 0, 1, 0, 0]
    trainer.reward_funcs = [scripted_accuracy([wrong] * 22 + [mixed]), zero_format]  # beyond the default 20
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    metrics = trainer._metrics["train"]
    assert metrics["tapo/resample_rounds"] == [22] and metrics["tapo/short_groups"] == [0.0]
    assert batch["advantages"].abs().min() > 0.1


def test_release_sampling_keys_are_checked() -> None:
    base = {"model": "m", "train_data": "d", "output_dir": "o"}
    with pytest.raises(ConfigError, match="keys 'filter_low' and 'filter_high' go together"):
        config_from_mapping({**base, "filter_low": 0.01}, "r.yaml")
    with pytest.raises(ConfigError, match=r"key 'filter_low' \(0.9\) must be below filter_high"):
        config_from_mapping({**base, "filter_low": 0.9, "filter_high": 0.1}, "r.yaml")
    for key, value, message in (("refill_order", "shuffled", "one of random, sequential"),
                                ("group_count", "node", "one of device, global")):
        with pytest.raises(ConfigError, match=f"r.yaml: key '{key}' must be {message}"):
            config_from_mapping({**base, key: value}, "r.yaml")
    assert config_from_mapping({**base, "max_resample_rounds": None}, "r.yaml").max_resample_rounds is None


def test_group_count_decides_when_refilling_stops() -> None:
    from types import SimpleNamespace

    from finebench.training.tapo.trainer import TapoTrainer

    def enough(count: str, counts: list[int]) -> bool:
        return TapoTrainer._enough(SimpleNamespace(tapo=SimpleNamespace(group_count=count)), counts, 2)

    # device 0 kept 3 groups, device 1 none; each needs 2
    assert not enough("device", [3, 0]) and enough("global", [3, 1]) and not enough("global", [2, 1])
    assert enough("device", [2, 2])
