"""Mixed precision that keeps small updates: after N steps at Fine-R1's learning rate, the weights
moved as far (and the same way) as in a float32 run, and the old behaviour (AdamW on bf16 weights)
is caught losing them. Also the Kahan AdamW against torch's AdamW."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finebench.data.demo import write_demo_data_root
from finebench.data.formats import write_stage1
from finebench.training.optim import KahanAdamW, optimizer_cls_and_kwargs
from finebench.training.sft.recipe import load_recipe
from finebench.training.sft.trainer import build_trainer
from tests.test_training_sft_train import SFT_YAML, demo_samples

STEPS, LR = 10, 1e-6


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    work = tmp_path_factory.mktemp("precision")
    data_root = write_demo_data_root(work / "data", items_per_file=2)
    samples = demo_samples(data_root)
    write_stage1(work / "train.json", samples)
    return work, data_root, samples


def train_delta(model_dir: Path, sft_data, *overrides: str) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """Flattened weight change of the trainable parameters after STEPS steps, and the same with
    the Kahan compensation added (what the optimiser carries), and the weights' dtype."""
    from transformers import AutoModelForImageTextToText

    work, data_root, samples = sft_data
    recipe = load_recipe(SFT_YAML, [
        f"model={model_dir}", f"data_files={work / 'train.json'}", f"image_root={data_root}",
        f"output_dir={work / 'out'}", f"max_steps={STEPS}", f"learning_rate={LR}", "warmup_steps=0",
        "lr_scheduler_type=constant", "effective_batch_size=2", "per_device_train_batch_size=2",
        "gradient_checkpointing=false", "dataloader_num_workers=0", *overrides,
    ])
    trainer = build_trainer(recipe, samples)
    trainer.train()
    base = dict(AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).named_parameters())
    deltas, carried = [], []
    for name, param in trainer.model.named_parameters():
        if not param.requires_grad:
            continue
        start = base[name].detach().to(param.dtype).float()
        delta = param.detach().float() - start
        state = trainer.optimizer.state.get(param, {})
        deltas.append(delta.flatten())
        carried.append((delta + state["compensation"].float() if "compensation" in state else delta).flatten())
    return torch.cat(deltas), torch.cat(carried), next(trainer.model.parameters()).dtype


def compare(delta: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(norm ratio, cosine) of a weight change against the float32 reference."""
    ratio = (delta.norm() / reference.norm()).item()
    return ratio, torch.nn.functional.cosine_similarity(delta, reference, dim=0).item()


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, sft_data) -> torch.Tensor:
    delta, _, dtype = train_delta(tiny_model_dir, sft_data, "dtype=float32", "bf16=false")
    assert dtype == torch.float32 and delta.abs().max() > 0
    return delta


def test_fp32_master_weights_with_bf16_compute_keep_every_small_update(tiny_model_dir, sft_data, reference) -> None:
    delta, _, dtype = train_delta(tiny_model_dir, sft_data, "dtype=float32", "bf16=true")
    ratio, cosine = compare(delta, reference)
    print(f"fp32 master + bf16 autocast: {ratio:.4f} of the fp32 weight change, cosine {cosine:.4f}")
    assert dtype == torch.float32
    assert 0.97 < ratio < 1.03 and cosine > 0.97


def test_adamw_on_bf16_weights_loses_the_updates(tiny_model_dir, sft_data, reference) -> None:
    """The old behaviour, which this suite must catch (the preflight refuses it in real runs)."""
    delta, _, dtype = train_delta(tiny_model_dir, sft_data, "dtype=bfloat16", "bf16=true")
    ratio, cosine = compare(delta, reference)
    print(f"bf16 weights + AdamW: {ratio:.4f} of the fp32 weight change, cosine {cosine:.4f}")
    assert dtype == torch.bfloat16
    assert ratio < 0.5


def test_kahan_adamw_on_bf16_weights_carries_the_updates(tiny_model_dir, sft_data, reference) -> None:
    delta, carried, dtype = train_delta(tiny_model_dir, sft_data, "dtype=bfloat16", "bf16=true",
                                        "optimizer=adamw_kahan")
    ratio, cosine = compare(carried, reference)
    print(f"bf16 weights + Kahan AdamW: weights + compensation {ratio:.4f} of the fp32 change, cosine {cosine:.4f}; "
          f"the bf16 weights alone {compare(delta, reference)[0]:.4f} (they move once the sum passes half an ulp)")
    assert dtype == torch.bfloat16
    assert 0.95 < ratio < 1.05 and cosine > 0.95


# ---- the optimiser itself -------------------------------------------------------------------------


def regression_run(dtype: torch.dtype, optimizer_cls: type, steps: int, lr: float) -> tuple[torch.Tensor, dict]:
    torch.manual_seed(0)
    start = torch.randn(32, 32) * 0.05
    x, y = torch.randn(128, 32), torch.randn(128, 32)
    weight = torch.nn.Parameter(start.clone().to(dtype))
    optimizer = optimizer_cls([weight], lr=lr, weight_decay=0.01)
    for _ in range(steps):
        loss = ((x.to(dtype) @ weight - y.to(dtype)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return weight.detach().float() - start.to(dtype).float(), optimizer.state[weight]


def test_kahan_adamw_on_fp32_weights_is_adamw() -> None:
    ours, _ = regression_run(torch.float32, KahanAdamW, steps=20, lr=1e-3)
    torch_adamw, _ = regression_run(torch.float32, torch.optim.AdamW, steps=20, lr=1e-3)
    # equal up to where weight decay enters (torch multiplies p by 1 - lr * wd before the step)
    assert torch.allclose(ours, torch_adamw, rtol=1e-3, atol=1e-7)


def test_kahan_bf16_weights_track_fp32_once_the_updates_add_up() -> None:
    reference, _ = regression_run(torch.float32, torch.optim.AdamW, steps=100, lr=1e-5)
    kahan, state = regression_run(torch.bfloat16, KahanAdamW, steps=100, lr=1e-5)
    plain, _ = regression_run(torch.bfloat16, torch.optim.AdamW, steps=100, lr=1e-5)
    assert state["compensation"].dtype == state["exp_avg"].dtype == torch.bfloat16
    assert compare(kahan.flatten(), reference.flatten())[1] > 0.99
    assert 0.95 < compare(kahan.flatten(), reference.flatten())[0] < 1.05
    assert compare(plain.flatten(), reference.flatten())[0] < 0.5


def test_optimizer_names_map_to_trainer_arguments() -> None:
    assert optimizer_cls_and_kwargs("adamw", lr=1e-6) is None  # the Trainer's own AdamW
    cls, kwargs = optimizer_cls_and_kwargs("adamw_kahan", lr=1e-6)
    assert cls is KahanAdamW and kwargs["lr"] == 1e-6
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        optimizer_cls_and_kwargs("sgd", lr=1e-6)
