"""``key=value,key=value`` argument strings, as lm-eval and lmms-eval take ``--model_args``.

Values are typed the way lm-eval types them: ``true``/``false`` (any case) are booleans, then an
integer, then a float, else the text itself. A key given twice, an empty key or a part without
``=`` is an error naming the flag, not a silently dropped setting.
"""

from __future__ import annotations

from typing import Any


def parse_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_kv_args(spec: str, flag: str) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}``; raises ValueError naming ``flag`` on bad input."""
    parsed: dict[str, Any] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{flag}: {part!r} is not key=value")
        if key in parsed:
            raise ValueError(f"{flag}: key {key!r} given twice")
        parsed[key] = parse_value(value.strip())
    return parsed
