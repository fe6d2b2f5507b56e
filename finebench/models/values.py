"""Types and ranges of model-card values, checked when the card is read, before any model loads.

YAML is lenient (``'false'`` is a truthy string, ``lots`` a string where a number belongs), and
a wrong value that reaches transformers fails late or, worse, fails every sample and exits 0. So
every value is checked for its type and range here, with the file and key named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finebench.util.errors import ConfigError

DTYPES = ("auto", "float32", "bfloat16", "float16")
MAX_PIXELS_LIMIT = 1 << 28
"""No real processor asks for more than this; a larger value is a typo (and an out-of-memory)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _rule(check: Callable[[Any], bool], expected: str) -> tuple[Callable[[Any], bool], str]:
    return check, expected


GENERATION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "do_sample": _rule(lambda v: isinstance(v, bool), "true or false"),
    "max_new_tokens": _rule(lambda v: _is_int(v) and v >= 1, "a whole number >= 1"),
    "min_new_tokens": _rule(lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    "temperature": _rule(lambda v: _is_number(v) and 0 <= v <= 100, "a number >= 0"),
    "top_p": _rule(lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "top_k": _rule(lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    "repetition_penalty": _rule(lambda v: _is_number(v) and v > 0, "a number > 0"),
    "seed": _rule(lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
}
"""The generation settings finebench's generative backends understand, with what each must be."""


def check_generation(kwargs: Mapping[str, Any], where: str) -> None:
    """Every key known, every value of the right type and range; ``where`` names file and key."""
    for key, value in kwargs.items():
        if key not in GENERATION_RULES:
            raise ConfigError(f"{where}.{key}: unknown generation setting; known: {', '.join(GENERATION_RULES)}")
        check, expected = GENERATION_RULES[key]
        if not check(value):
            raise ConfigError(f"{where}.{key} must be {expected}, not {value!r}")
    low, high = kwargs.get("min_new_tokens"), kwargs.get("max_new_tokens")
    if _is_int(low) and _is_int(high) and low > high:
        raise ConfigError(f"{where}: min_new_tokens {low} is larger than max_new_tokens {high}")


def check_card_values(data: Mapping[str, Any], source: str) -> None:
    """The typed keys of a model card (the mapping as read from YAML)."""
    if not isinstance(data.get("trust_remote_code", False), bool):
        raise ConfigError(f"{source}: key 'trust_remote_code' must be true or false (unquoted), "
                          f"not {data['trust_remote_code']!r}")
    if not isinstance(data.get("display_name", ""), str):
        raise ConfigError(f"{source}: key 'display_name' must be a string")
    if data.get("dtype", "auto") not in DTYPES:
        raise ConfigError(f"{source}: key 'dtype' must be one of {', '.join(DTYPES)}, not {data['dtype']!r}")
    for key in ("min_pixels", "max_pixels"):
        value = data.get(key)
        if value is not None and not (_is_int(value) and 1 <= value <= MAX_PIXELS_LIMIT):
            raise ConfigError(f"{source}: key {key!r} must be a whole number of pixels in 1..{MAX_PIXELS_LIMIT}, not {value!r}")
    if data.get("min_pixels") is not None and data.get("max_pixels") is not None and data["min_pixels"] > data["max_pixels"]:
        raise ConfigError(f"{source}: min_pixels {data['min_pixels']} is larger than max_pixels {data['max_pixels']}")
    if isinstance(data.get("generation"), Mapping):
        check_generation(data["generation"], f"{source}: key generation")
