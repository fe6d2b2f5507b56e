"""The release presets (training/sft-release.yaml, training/tapo-release.yaml): they load, every
value names the upstream file and line it comes from, the batch shapes are the release's, and the
default recipes say at each key where (and why) they differ from the release."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from finebench.training.sft.recipe import load_recipe
from finebench.training.tapo.config import load_tapo_config

TRAINING = Path(__file__).resolve().parents[1] / "training"
PAIRS = (("sft.yaml", "sft-release.yaml"), ("tapo.yaml", "tapo-release.yaml"))
SOURCED = re.compile(r"#.*(\bL\d+|not in |transformers|torch|default)")
"""An upstream line reference (``L123``), or a note that the release leaves the value to a
library default or does not have the setting at all."""


@pytest.mark.parametrize("name", ["sft-release.yaml", "tapo-release.yaml"])
def test_every_value_of_a_release_preset_names_its_upstream_line(name: str) -> None:
    lines = (TRAINING / name).read_text().splitlines()
    values = [line for line in lines if line.strip() and not line.lstrip().startswith("#") and not line.endswith(":")]
    assert len(values) >= 30
    unsourced = [line for line in values if not SOURCED.search(line)]
    assert not unsourced


def test_the_release_presets_load_with_the_release_shapes() -> None:
    sft = load_recipe(TRAINING / "sft-release.yaml")
    assert (sft.image_resize, sft.dtype, sft.deepspeed) == ("release", "bfloat16", "training/ds_zero3.json")
    assert (sft.effective_batch_size, sft.per_device_train_batch_size, sft.learning_rate) == (64, 4, 5e-6)
    tapo = load_tapo_config(TRAINING / "tapo-release.yaml")
    processes = 4  # tapo_7b.sh L8-9
    update = tapo.per_device_train_batch_size * tapo.gradient_accumulation_steps * processes
    generation = tapo.per_device_train_batch_size * tapo.steps_per_generation * processes
    assert (update, generation) == (64 * 10, 192 * 10)  # GLOBAL_BATCH_SIZE, ROLLOUT_BATCH_SIZE x (5 + 5) rollouts
    assert tapo.per_device_train_batch_size == 4  # micro_batch_size_per_device_for_update
    assert (tapo.filter_low, tapo.filter_high, tapo.max_resample_rounds, tapo.refill_prompts) == (0.01, 0.99, None, 64)
    assert (tapo.keep_all_when_none_kept, tapo.refill_order, tapo.group_count) == (True, "sequential", "global")
    assert (tapo.kl_float32, tapo.vllm_importance_sampling, tapo.image_resize) == (True, False, "release")
    assert (tapo.dual_clip, tapo.ratio_log_clamp, tapo.token_mean, tapo.negative_policy) == (
        3.0, 20.0, "micro_batch", "old")


def _key_texts(path: Path) -> dict[str, str]:
    """Each top-level key -> its line plus the comment lines just above it."""
    texts, pending, last = {}, [], None
    for line in path.read_text().splitlines():
        if line.startswith(" ") and last is not None:  # a continuation of the key above's comment
            texts[last] += "\n" + line
            continue
        if line.startswith("#"):
            pending.append(line)
            continue
        match = re.match(r"([a-z_0-9]+):", line)
        if match:
            last = match.group(1)
            texts[last] = "\n".join([*pending, line])
            pending = []
        elif not line.strip():
            pending, last = [], None
    return texts


@pytest.mark.parametrize("default,release", PAIRS)
def test_the_default_recipes_say_where_they_differ_from_the_release(default: str, release: str) -> None:
    ours, theirs = yaml.safe_load((TRAINING / default).read_text()), yaml.safe_load((TRAINING / release).read_text())
    texts = _key_texts(TRAINING / default)
    differing = sorted(k for k in theirs if k in ours and ours[k] != theirs[k])
    assert differing  # the defaults do keep choices of their own
    silent = [k for k in differing if "release" not in texts[k]]
    assert not silent, f"{default}: keys that differ from {release} without saying so: {silent}"
    loaded = (load_recipe if default == "sft.yaml" else load_tapo_config)(TRAINING / default)
    unstated = sorted(k for k in theirs if k not in ours and getattr(loaded, k) != theirs[k] and k != "run_name")
    assert not unstated, f"{default} leaves {unstated} at defaults other than the release's without a word"
