"""TAPO recipes: one flat YAML mapping -> a validated ``TapoConfig``, plus ``key=value`` overrides.

The recipe is flat on purpose: every key can be overridden on the command line with the same name
(``max_steps=2 output_dir=/tmp/x``), and an unknown or mistyped key is an error naming the file and
the key rather than a silently ignored setting. Only this module's ``grpo_args`` knows TRL's names,
so the mapping from a recipe to ``GRPOConfig`` is checked without importing TRL.

Relative paths in a recipe (``train_data``, ``image_root``, ``deepspeed``) are resolved against the
working directory, as ``accelerate launch`` users expect.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from finebench.tasks.config import read_yaml_mapping, yaml_float
from finebench.training.evaluation_callback import EvaluationKeys
from finebench.training.images import IMAGE_MODES
from finebench.training.preflight import OPTIMIZERS, recipe_source
from finebench.training.runs import RESUME_MODES
from finebench.training.tapo.ranges import check_ranges
from finebench.util.errors import ConfigError
from finebench.util.suggest import unknown_name_error

DEFAULT_FORMAT_PROMPT = (
    "You first think through the reasoning process as an internal monologue, enclosed within <think> </think> "
    "tags. Then, provide your final answer enclosed within <answer> </answer> tags."
)
"""The released training instruction (``examples/format_prompt/cls_thinking.jinja``), appended to
each problem after a blank line."""

CONDITIONINGS = ("own", "anchor")
DYNAMIC_SAMPLING_KEYS = ("accuracy", "reward")
DTYPES = ("float32", "bfloat16", "float16")
GROUP_COUNTS = ("device", "global")
NEGATIVE_POLICIES = ("current", "old")
REFILL_ORDERS = ("random", "sequential")
TOKEN_MEANS = ("window", "micro_batch")
VLLM_MODES = ("colocate", "server")
REQUIRED = ("model", "train_data", "output_dir")

TRL_KEYS_OWNED_BY_TAPO = frozenset({
    "beta", "loss_type", "epsilon", "epsilon_high", "delta", "num_generations", "num_generations_eval",
    "scale_rewards", "reward_weights", "multi_objective_aggregation", "importance_sampling_level",
    "top_entropy_quantile", "entropy_coef", "use_adaptive_entropy", "off_policy_mask_threshold",
    "use_bias_correction_kl", "sync_ref_model", "remove_unused_columns",
})
"""GRPOConfig settings that TAPO's own loss, advantages and sampler replace or depend on; setting
them through ``trl:`` would be silently ignored or break the group layout, so it is an error."""


@dataclass(frozen=True)
class TapoConfig(EvaluationKeys):
    """A TAPO run. Defaults are the paper's / released recipe's unless a docstring says otherwise."""

    # ---- model and data --------------------------------------------------------------------------
    model: str = ""
    """Stage-1 checkpoint: a local folder or a hub id (must be in the HF cache when offline)."""
    train_data: str = ""
    """Stage-2 triplets (``problem``, ``answer``, ``images``, ``image_noisy``, ``image_aug``)."""
    image_root: str | None = None
    """Folder that relative image paths are resolved against [default: the data file's folder]."""
    output_dir: str = ""
    dtype: str = "float32"
    """Dtype the weights are loaded and kept in: float32 master weights (with ``bf16`` compute) by
    default; bfloat16 weights need ``optimizer: adamw_kahan`` (the release's memory-tight setup)."""
    optimizer: str = "adamw"
    """``adamw`` or ``adamw_kahan`` (Kahan-summed AdamW, ``finebench.training.optim``)."""
    min_pixels: int | None = None
    max_pixels: int | None = None
    image_resize: str = "processor"
    """How images meet the pixel bounds (``finebench.training.images``): ``processor`` (RGB, then
    the processor's own resize to the recipe's bounds) or ``release`` (the released RL dataset's
    PIL resize into [min_pixels, max_pixels] with truncated sides, before the RGB conversion,
    twice for the positive and negative images; the processor keeps the checkpoint's bounds)."""
    format_prompt: str = DEFAULT_FORMAT_PROMPT

    # ---- intra-class augmentation ----------------------------------------------------------------
    n_anchor: int = 5
    """n1: rollouts sampled on the anchor image per group."""
    n_positive: int = 5
    """n2: rollouts sampled on the positive image (same sub-category), pooled into the same group."""
    conditioning: str = "own"
    """Image the policy update conditions each rollout on: ``own`` (the image it was sampled on, as
    the released code does) or ``anchor`` (every rollout on the anchor, as §4.3's text reads)."""

    # ---- inter-class augmentation ----------------------------------------------------------------
    gamma: float = 0.01
    eta_policy: float = 0.03
    """eta1, weight of -log pi(o|q,x_*)."""
    eta_negative: float = 0.03
    """eta2, weight of -log pi(o|q,x_neg)."""
    neg_grad: bool = True
    """Backpropagate through the negative-image branch; ``false`` reproduces the released code."""
    negative_policy: str = "current"
    """Which policy scores the negative image: ``current`` (every micro-batch, the model being
    updated) or ``old`` (once per rollout batch, before any update, as the release does; its
    scores are constants, so it needs ``neg_grad: false``)."""
    kl_log_ratio_clamp: float = 20.0
    kl_max: float = 10.0
    kl_float32: bool = False
    """Compute the inter-class KL in float32 whatever the log-probs' dtype (the release casts
    first); false keeps their dtype (bfloat16 when the forward returns it)."""

    # ---- DAPO ------------------------------------------------------------------------------------
    epsilon_low: float = 0.2
    epsilon_high: float = 0.28
    dual_clip: float | None = None
    """Dual-clip PPO: for a negative advantage the per-token loss is capped at ``-dual_clip * A``,
    so a token whose ratio has grown huge cannot dominate (the release: 3.0); None: no cap."""
    ratio_log_clamp: float | None = None
    """Clamp ``log(pi / pi_old)`` to +-this before ``exp`` (the release: 20.0); None: no clamp."""
    token_mean: str = "window"
    """What the token-level loss averages over: ``window`` (all tokens of the accumulation window
    on all devices, DAPO's token mean) or ``micro_batch`` (each micro-batch's own tokens, then the
    mean over accumulation steps and devices, as the release does)."""
    dynamic_sampling: bool = True
    dynamic_sampling_key: str = "accuracy"
    """Groups are dropped when this is equal for all rollouts: ``accuracy`` (the paper's Eq. 4
    constraint 0 < #correct < n1 + n2, and the released run's ``filter_key=accuracy``) or
    ``reward`` (the weighted reward, so groups that differ only in format are kept)."""
    filter_low: float | None = None
    filter_high: float | None = None
    """With both set, a group is kept iff filter_low < mean(key) < filter_high (the release's
    rule: 0.01 and 0.99); unset, iff the key's values are not all equal (Eq. 4). The two differ
    from groups of 100 rollouts on (1 right of 100 has mean 0.01)."""
    keep_all_when_none_kept: bool = False
    """When a block of refill prompts (see ``refill_prompts``) keeps no group, keep all of its
    groups (the release); false: drop them."""
    max_resample_rounds: int | None = 20
    """Refill rounds before the batch is topped up with dropped groups; null: no limit (the
    release: it samples until the batch is full, however long that takes)."""
    refill_prompts: int | None = None
    """Prompts (over all devices) of one refill round, and the block the keep-all rule applies
    to; null: as many as the generation batch (the release: 64, its dataloader batch)."""
    refill_order: str = "random"
    """``random`` (refill prompts drawn at random) or ``sequential`` (the next batch of one seeded
    shuffled dataloader pass, as the release takes its next dataloader batches)."""
    group_count: str = "device"
    """When refilling stops: every ``device`` has its share of kept groups, or the kept groups of
    all devices together (``global``, the release's count) make up the batch."""
    advantage_eps: float = 1e-6

    negate_advantages: bool = False
    """A negative control for experiments, never for training a model: every advantage changes
    sign, so the update favours the rollouts that scored worst and the reward must fall."""

    # ---- reward ----------------------------------------------------------------------------------
    accuracy_weight: float = 0.9
    format_weight: float = 0.1

    # ---- optimisation ----------------------------------------------------------------------------
    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    """Fraction of the steps spent warming the learning rate up (the release: none)."""
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 10
    """Rollouts (not prompts) per device and micro-batch."""
    gradient_accumulation_steps: int = 1
    steps_per_generation: int | None = None
    """Micro-batches per generation batch [default: gradient_accumulation_steps, one update per
    generation]; a multiple of it gives several updates per rollout batch, as the release (3)."""
    num_train_epochs: float = 5.0
    max_steps: int = -1
    seed: int = 1
    bf16: bool = False
    gradient_checkpointing: bool = False

    # ---- generation ------------------------------------------------------------------------------
    temperature: float = 1.0
    top_p: float = 0.99
    max_completion_length: int = 2048
    use_vllm: bool = False
    vllm_importance_sampling: bool = True
    """With vLLM, scale the surrogate by TRL's truncated importance-sampling ratio between the
    trainer's and vLLM's log-probs; the release has no such correction (false)."""
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.6
    vllm_tensor_parallel_size: int = 1
    vllm_server_base_url: str | None = None

    # ---- launch and logging ----------------------------------------------------------------------
    deepspeed: str | None = None
    """A DeepSpeed JSON, when not launched through an accelerate config that names one."""
    logging_steps: int = 1
    save_steps: int = 100
    save_total_limit: int | None = 3
    report_to: list[str] = field(default_factory=lambda: ["none"])
    """``tensorboard``, ``wandb``... anything ``transformers`` supports; ``none`` logs to stdout only."""
    run_name: str | None = None
    trl: dict[str, Any] = field(default_factory=dict)
    """Further ``GRPOConfig`` keyword arguments (e.g. ``vllm_server_timeout``), passed through."""
    resume: str = "auto"
    """``auto``: a killed run of the same recipe in ``output_dir`` continues from its last
    checkpoint (every ``save_steps``); ``never``: start over."""
    overwrite: bool = False
    """Replace a different recipe's run in ``output_dir`` (refused otherwise)."""

    @property
    def group_size(self) -> int:
        return self.n_anchor + self.n_positive


def _type_error(source: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{source}: key {key!r} must be {expected}, got {value!r}")


def _check_type(source: str, key: str, annotation: Any, value: Any) -> Any:
    """``value`` converted to the field's type: ints are accepted as floats, and numbers as strings
    (``run_name=2024`` on the command line parses as a YAML int)."""
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    if optional:
        if value is None:
            return None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation) or annotation
    if origin is bool:
        if not isinstance(value, bool):
            raise _type_error(source, key, "true or false", value)
    elif origin is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(source, key, "an integer", value)
    elif origin is float:
        value = yaml_float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(source, key, "a number", value)
        return float(value)
    elif origin is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _type_error(source, key, "a string", value)
    elif origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _type_error(source, key, "a list of strings", value)
    elif origin is dict:
        if not isinstance(value, dict):
            raise _type_error(source, key, "a mapping", value)
    return value


def _check_choice(source: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{source}: key {key!r} must be one of {', '.join(choices)}, got {value!r}")


def _check_values(config: TapoConfig, source: str) -> None:
    for key in REQUIRED:
        if not getattr(config, key):
            raise ConfigError(f"{source}: key {key!r} is required")
    _check_choice(source, "conditioning", config.conditioning, CONDITIONINGS)
    _check_choice(source, "dynamic_sampling_key", config.dynamic_sampling_key, DYNAMIC_SAMPLING_KEYS)
    _check_choice(source, "dtype", config.dtype, DTYPES)
    _check_choice(source, "optimizer", config.optimizer, OPTIMIZERS)
    _check_choice(source, "image_resize", config.image_resize, IMAGE_MODES)
    _check_choice(source, "refill_order", config.refill_order, REFILL_ORDERS)
    _check_choice(source, "group_count", config.group_count, GROUP_COUNTS)
    _check_choice(source, "negative_policy", config.negative_policy, NEGATIVE_POLICIES)
    _check_choice(source, "token_mean", config.token_mean, TOKEN_MEANS)
    _check_choice(source, "vllm_mode", config.vllm_mode, VLLM_MODES)
    _check_choice(source, "resume", config.resume, RESUME_MODES)
    check_ranges(config, source)
    if config.n_anchor < 1 or config.n_positive < 0:
        raise ConfigError(f"{source}: keys 'n_anchor' >= 1 and 'n_positive' >= 0 are required")
    if config.group_size < 2:
        raise ConfigError(f"{source}: a group needs at least 2 rollouts (n_anchor + n_positive)")
    for key in ("gamma", "eta_policy", "eta_negative", "accuracy_weight", "format_weight", "epsilon_low",
                "epsilon_high", "max_resample_rounds", "kl_log_ratio_clamp", "kl_max"):
        if getattr(config, key) is not None and getattr(config, key) < 0:
            raise ConfigError(f"{source}: key {key!r} must be >= 0")
    if (config.filter_low is None) != (config.filter_high is None):
        raise ConfigError(f"{source}: keys 'filter_low' and 'filter_high' go together (set both or neither)")
    if config.filter_low is not None and not config.filter_low < config.filter_high:
        raise ConfigError(f"{source}: key 'filter_low' ({config.filter_low}) must be below filter_high "
                          f"({config.filter_high})")
    if config.refill_prompts is not None and config.refill_prompts < 1:
        raise ConfigError(f"{source}: key 'refill_prompts' must be a positive number of prompts")
    if config.dual_clip is not None and config.dual_clip <= 1.0:
        raise ConfigError(f"{source}: key 'dual_clip' must be greater than 1 (dual-clip PPO), got {config.dual_clip}")
    if config.ratio_log_clamp is not None and config.ratio_log_clamp <= 0:
        raise ConfigError(f"{source}: key 'ratio_log_clamp' must be positive, got {config.ratio_log_clamp}")
    if config.negative_policy == "old" and config.neg_grad:
        raise ConfigError(
            f"{source}: key 'negative_policy' is 'old', whose scores carry no gradient; set neg_grad: false "
            "(the release's setting) or negative_policy: current"
        )
    if config.image_resize == "release" and config.min_pixels is None and config.max_pixels is None:
        raise ConfigError(f"{source}: key 'image_resize' is 'release' but neither min_pixels nor max_pixels is set")
    if not 0.0 <= config.warmup_ratio < 1.0:
        raise ConfigError(f"{source}: key 'warmup_ratio' must be in [0, 1)")
    if config.warmup_ratio and config.lr_scheduler_type == "constant":
        raise ConfigError(
            f"{source}: key 'warmup_ratio' is {config.warmup_ratio} but lr_scheduler_type 'constant' has no warm-up "
            "(it would be ignored); use lr_scheduler_type: constant_with_warmup"
        )
    rollouts = config.per_device_train_batch_size * (config.steps_per_generation or config.gradient_accumulation_steps)
    if rollouts % config.group_size:
        raise ConfigError(
            f"{source}: per_device_train_batch_size x steps_per_generation ({rollouts}) must be a multiple of "
            f"n_anchor + n_positive ({config.group_size}), so that every group of rollouts stays on one device"
        )
    clash = sorted(set(config.trl) & (TRL_KEYS_OWNED_BY_TAPO | set(grpo_args(TapoConfig()))))
    if clash:
        raise ConfigError(f"{source}: key 'trl' may not set {', '.join(clash)} (set by TAPO or by a recipe key)")


def config_from_mapping(data: dict[str, Any], source: str) -> TapoConfig:
    known = {f.name: f for f in fields(TapoConfig)}
    hints = typing.get_type_hints(TapoConfig)
    values = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{source}: {unknown_name_error('key', key, known)}")
        values[key] = _check_type(source, key, hints[key], value)
    config = TapoConfig(**values)
    _check_values(config, source)
    return config


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["max_steps=2", "trl.vllm_server_timeout=600"]`` -> a mapping; values are parsed as YAML
    scalars (``2`` is an int, ``true`` a bool, ``null`` None, ``[a, b]`` a list)."""
    parsed: dict[str, Any] = {}
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {override!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {override!r}: invalid value ({exc})") from exc
        if key.startswith("trl."):
            parsed.setdefault("trl", {})[key[len("trl."):]] = value
        else:
            parsed[key] = value
    return parsed


def load_tapo_config(path: Path, overrides: list[str] | None = None) -> TapoConfig:
    """The recipe at ``path`` with ``overrides`` applied; errors name the file (or override) and key."""
    data = read_yaml_mapping(Path(path))
    parsed = parse_overrides(overrides or [])
    if not isinstance(data.get("trl") or {}, dict):
        raise ConfigError(f"{path}: key 'trl' must be a mapping of GRPOConfig arguments")
    trl = {**(data.get("trl") or {}), **parsed.pop("trl", {})}
    if trl:
        data["trl"] = trl
    source = recipe_source(path, overrides or [])
    return config_from_mapping({**data, **parsed}, source)


def grpo_args(config: TapoConfig) -> dict[str, Any]:
    """Keyword arguments for ``trl.GRPOConfig``: DAPO's clip and token-level loss, no reference
    model, one reward per function (accuracy, format) weighted as the recipe says, then ``trl:``."""
    from finebench.util.compat import checkpointing_kwargs

    args: dict[str, Any] = {
        "output_dir": config.output_dir,
        "loss_type": "dapo",
        "beta": 0.0,
        "epsilon": config.epsilon_low,
        "epsilon_high": config.epsilon_high,
        "num_generations": config.group_size,
        "reward_weights": [config.accuracy_weight, config.format_weight],
        "scale_rewards": "group",
        "remove_unused_columns": False,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "lr_scheduler_type": config.lr_scheduler_type,
        "warmup_steps": config.warmup_ratio,  # transformers reads a float in [0, 1) as a ratio
        "max_grad_norm": config.max_grad_norm,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "steps_per_generation": config.steps_per_generation,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "seed": config.seed,
        "bf16": config.bf16,
        **checkpointing_kwargs(config.gradient_checkpointing),
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_completion_length": config.max_completion_length,
        "use_vllm": config.use_vllm,
        "vllm_importance_sampling_correction": config.vllm_importance_sampling,
        "vllm_mode": config.vllm_mode,
        "vllm_gpu_memory_utilization": config.vllm_gpu_memory_utilization,
        "vllm_tensor_parallel_size": config.vllm_tensor_parallel_size,
        "vllm_server_base_url": config.vllm_server_base_url,
        "deepspeed": config.deepspeed,
        "logging_steps": config.logging_steps,
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": list(config.report_to),
        "run_name": config.run_name,
        "model_init_kwargs": {"dtype": config.dtype},
    }
    return {**args, **config.trl}
