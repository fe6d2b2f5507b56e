"""Task YAML files -> validated ``TaskConfig`` objects.

A task file is declarative: it names its item source, prompt template, super-category word,
metrics, generation kwargs, trials and default protocol, and pulls shared keys from templates with
``include:``. Every error names the file and the key so a typo never turns into a silent default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finebench.util.errors import ConfigError

try:  # the C loader is ~10x faster; `finebench ls` parses every file
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

WORLDS = ("closed", "open")
SPLITS = ("seen", "unseen")
PROTOCOLS = ("fine-r1", "finebench")
OPTION_ORDERS = ("release", "shuffled", "circular", "label-set")
ANSWER_EXTRACTIONS = ("greedy", "last")
OPEN_TARGETS = ("full", "make_model")
METRICS_BY_WORLD = {"closed": ("accuracy",), "open": ("inclusion", "ss_relative")}
PROMPT_FIELDS = ("question", "options")


@dataclass(frozen=True)
class ProtocolSettings:
    option_order: str
    """``release``, ``shuffled``, ``circular`` or ``label-set``; see ``finebench.tasks.prompts.shown_options``."""
    answer_extraction: str
    """``greedy``: first ``<answer>`` to last ``</answer>``; ``last``: the last complete block."""


@dataclass(frozen=True)
class TaskConfig:
    name: str
    dataset: str
    world: str
    split: str
    source: str
    """Item file, relative to the data root (release format, see ``finebench.tasks.items``)."""
    prompt: str
    """Template with ``{question}`` and ``{options}`` (the Python list repr of the options shown)."""
    super_category: str
    metrics: tuple[str, ...]
    generation: Mapping[str, Any]
    trials: int
    seed: int
    protocol: str
    protocols: Mapping[str, ProtocolSettings]
    version: int
    open_target: str = "full"
    source_file: str = field(default="", compare=False)

    def config_hash(self) -> str:
        """Hash of everything that changes prompts or scores (not of where the file lives)."""
        data = asdict(self)
        data.pop("source_file")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def yaml_float(value: Any) -> Any:
    """YAML 1.1 reads ``5e-6`` (no dot) as a string; a number field takes it as the number meant."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def resolve_includes(path: Path, _stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's keys merged over its includes (in order), recursively; cycles are errors."""
    path = path.resolve()
    if path in _stack:
        chain = " -> ".join(p.name for p in (*_stack, path))
        raise ConfigError(f"{_stack[0]}: include cycle {chain}")
    data = read_yaml_mapping(path)
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{path}: key 'include' must be a path or a list of paths")
    merged: dict[str, Any] = {}
    for include in includes:
        target = path.parent / include
        if not target.is_file():
            raise ConfigError(f"{path}: key 'include' names {include!r}, which does not exist ({target})")
        merged = _deep_merge(merged, resolve_includes(target, (*_stack, path)))
    return _deep_merge(merged, data)


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if key not in data:
        raise ConfigError(f"{path}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}: key {key!r} must be {names}, got {value!r}")
    return value


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], path: Path, where: str = "") -> str:
    value = _require(data, key, str, path)
    if value not in allowed:
        raise ConfigError(f"{path}: key '{where}{key}' is {value!r}; allowed: {', '.join(allowed)}")
    return value


def _protocol_settings(raw: Any, path: Path) -> dict[str, ProtocolSettings]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: key 'protocols' must be a mapping of protocol name -> settings")
    settings = {}
    for name in PROTOCOLS:
        entry = raw.get(name)
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: key 'protocols.{name}' is missing or not a mapping")
        unknown = sorted(set(entry) - {"option_order", "answer_extraction"})
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(f'protocols.{name}.{k}' for k in unknown)}")
        settings[name] = ProtocolSettings(
            option_order=_choice(entry, "option_order", OPTION_ORDERS, path, f"protocols.{name}."),
            answer_extraction=_choice(entry, "answer_extraction", ANSWER_EXTRACTIONS, path, f"protocols.{name}."),
        )
    unknown = sorted(set(raw) - set(PROTOCOLS))
    if unknown:
        raise ConfigError(f"{path}: key 'protocols' names unknown protocol(s) {', '.join(unknown)}")
    return settings


TASK_KEYS = frozenset(
    {"task", "dataset", "world", "split", "source", "prompt", "super_category", "metrics", "generation",
     "trials", "seed", "protocol", "protocols", "version", "open_target", "description"}
)


def task_from_mapping(data: Mapping[str, Any], path: Path) -> TaskConfig:
    unknown = sorted(set(data) - TASK_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TASK_KEYS))}")
    world = _choice(data, "world", WORLDS, path)
    prompt = _require(data, "prompt", str, path)
    try:
        prompt.format(question="", options="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{path}: key 'prompt' may only use the fields {{question}} and {{options}} ({exc})") from exc
    metrics = _require(data, "metrics", list, path)
    for metric in metrics:
        if metric not in METRICS_BY_WORLD[world]:
            raise ConfigError(
                f"{path}: key 'metrics' has {metric!r}, not a {world}-world metric ({', '.join(METRICS_BY_WORLD[world])})"
            )
    trials = _require(data, "trials", int, path)
    if trials < 1:
        raise ConfigError(f"{path}: key 'trials' must be >= 1")
    generation = _require(data, "generation", dict, path)
    if not isinstance(generation.get("max_new_tokens", 1), int) or generation.get("max_new_tokens", 1) < 1:
        raise ConfigError(f"{path}: key 'generation.max_new_tokens' must be a positive integer")
    return TaskConfig(
        name=_require(data, "task", str, path),
        dataset=_require(data, "dataset", str, path),
        world=world,
        split=_choice(data, "split", SPLITS, path),
        source=_require(data, "source", str, path),
        prompt=prompt,
        super_category=_require(data, "super_category", str, path),
        metrics=tuple(metrics),
        generation=dict(generation),
        trials=trials,
        seed=_require(data, "seed", int, path),
        protocol=_choice(data, "protocol", PROTOCOLS, path),
        protocols=_protocol_settings(data.get("protocols"), path),
        version=_require(data, "version", int, path),
        open_target=_choice(data, "open_target", OPEN_TARGETS, path) if "open_target" in data else "full",
        source_file=str(path),
    )


def load_task_file(path: Path) -> TaskConfig:
    return task_from_mapping(resolve_includes(path), path)
