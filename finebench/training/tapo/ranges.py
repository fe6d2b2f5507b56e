"""Ranges of a TAPO recipe's numbers, checked with the recipe before any model loads: ``top_p: 2.5``
would train, ``temperature: -1`` fail deep inside generation, ``seed: -3`` fail in torch."""

from __future__ import annotations

from typing import Any

from finebench.util.errors import ConfigError


def check_ranges(config: Any, source: str) -> None:
    """Every number of ``config`` (a ``TapoConfig``) within what it can mean; errors name ``source``
    and the key. (Typed loosely so that this module need not import the config's.)"""
    def finite(value: float) -> bool:
        return value == value and abs(value) != float("inf")

    rules = (
        ("top_p", 0 < config.top_p <= 1, "in (0, 1]"),
        ("temperature", finite(config.temperature) and config.temperature > 0, "a number > 0 (rollouts are sampled)"),
        ("learning_rate", finite(config.learning_rate) and config.learning_rate > 0, "> 0"),
        ("num_train_epochs", finite(config.num_train_epochs) and config.num_train_epochs > 0, "> 0"),
        ("max_steps", config.max_steps == -1 or config.max_steps > 0, "a positive number of steps, or -1"),
        ("max_completion_length", config.max_completion_length >= 1, ">= 1"),
        ("per_device_train_batch_size", config.per_device_train_batch_size >= 1, ">= 1"),
        ("gradient_accumulation_steps", config.gradient_accumulation_steps >= 1, ">= 1"),
        ("steps_per_generation", config.steps_per_generation is None or config.steps_per_generation >= 1, ">= 1"),
        ("seed", config.seed >= 0, ">= 0"),
        ("logging_steps", config.logging_steps >= 1, ">= 1"),
        ("save_steps", config.save_steps >= 1, ">= 1"),
        ("save_total_limit", config.save_total_limit is None or config.save_total_limit >= 1, ">= 1"),
        ("weight_decay", finite(config.weight_decay) and config.weight_decay >= 0, ">= 0"),
        ("max_grad_norm", finite(config.max_grad_norm) and config.max_grad_norm > 0, "> 0"),
        ("vllm_gpu_memory_utilization", 0 < config.vllm_gpu_memory_utilization <= 1, "in (0, 1]"),
        ("vllm_tensor_parallel_size", config.vllm_tensor_parallel_size >= 1, ">= 1"),
    )
    for key, ok, expected in rules:
        if not ok:
            raise ConfigError(f"{source}: key {key!r} must be {expected}, got {getattr(config, key)!r}")
    for key in ("min_pixels", "max_pixels"):
        value = getattr(config, key, None)
        if value is not None and value < 1:
            raise ConfigError(f"{source}: key {key!r} must be a positive number of pixels, got {value!r}")
