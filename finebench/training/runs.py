"""Where a training run writes, and what it finds there when it starts.

``output_dir`` holds one run. ``finebench_run.json`` is written when a run starts (the recipe it
trains) and the run's report (``finebench_sft.json`` / ``finebench_tapo.json``) when it finishes,
so a folder says which recipe its checkpoints belong to and whether that run finished.

- ``resume: auto`` (default): a run of the same recipe that was killed continues from its last
  complete ``checkpoint-N`` (the Trainer restores weights, optimiser, scheduler, RNG and data
  position, so the result equals an uninterrupted run); ``resume: never`` starts over.
- A folder holding a different recipe's run (finished or not) is refused unless ``overwrite:
  true``, which clears it first: a second run never leaves a mix of two runs that looks finished.
- A folder that is not empty and holds no finebench run is never cleared.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finebench.util.errors import ConfigError
from finebench.util.fsutil import atomic_write_json

RUN_FILE = "finebench_run.json"
RESUME_MODES = ("auto", "never")
NOT_RESULT_KEYS = frozenset({
    "resume", "overwrite", "output_dir", "report_to", "logging_steps", "dataloader_num_workers", "save_strategy",
    "save_steps", "save_total_limit", "run_name", "eval_tasks", "eval_steps", "eval_limit", "eval_data_root",
    "eval_metrics", "eval_batch_size",
})
"""Recipe keys that do not change the trained weights: two recipes that differ only in these are
the same run (more frequent checkpoints may resume a run)."""
BUILTIN_PREFIX = "builtin:"


def model_source(model: str) -> str:
    """A recipe's ``model`` as transformers loads it: ``builtin:NAME`` built offline on first use."""
    if model.startswith(BUILTIN_PREFIX):
        from finebench.models.builtin import resolve_builtin

        return str(resolve_builtin(model[len(BUILTIN_PREFIX):]))
    return model


def _identity(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that change the weights, as JSON would store them (so a stored recipe compares
    equal to the same recipe in memory)."""
    return json.loads(json.dumps({k: v for k, v in recipe.items() if k not in NOT_RESULT_KEYS}, default=str))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def last_checkpoint(output_dir: Path) -> Path | None:
    """The highest ``checkpoint-N`` the Trainer finished writing (it writes trainer_state.json last)."""
    done = [p for p in Path(output_dir).glob("checkpoint-*")
            if p.name.split("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-", 1)[1]), default=None)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new), key=str)
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs[:4]) + ("; ..." if len(diffs) > 4 else "")


def plan_output_dir(output_dir: Path, recipe: Mapping[str, Any], report_file: str, *, resume: str,
                    overwrite: bool, where: str) -> tuple[bool, Path | None]:
    """(clear the folder first?, checkpoint to resume from). Reads only; ``prepare_output_dir``
    acts on the answer (on the main process)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{where}: key 'output_dir': {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return False, None
    report, started = _read(out / report_file), _read(out / RUN_FILE)
    previous = (report or started or {}).get("recipe")
    if previous is None:
        raise ConfigError(f"{where}: key 'output_dir': {out} is not empty and holds no finebench training run; "
                          "choose an empty or new folder (it is never cleared)")
    same = _identity(previous) == _identity(recipe)
    if overwrite:
        return True, None
    if not same:
        state = "a finished run" if report is not None else "an unfinished run"
        raise ConfigError(f"{where}: key 'output_dir': {out} holds {state} of another recipe "
                          f"({_differences(_identity(previous), _identity(recipe))}); choose another output_dir, "
                          "or set overwrite: true to replace it")
    if report is not None:  # the same recipe finished: train it again from a clean folder
        return True, None
    checkpoint = last_checkpoint(out) if resume == "auto" else None
    return checkpoint is None, checkpoint


def prepare_output_dir(output_dir: Path, recipe: Mapping[str, Any], report_file: str, *, resume: str,
                       overwrite: bool, where: str, state: Any = None) -> Path | None:
    """Check ``output_dir`` (see the module docstring), clear it where the plan says so and record
    the run; returns the checkpoint to resume from. ``state``: accelerate's process state, so only
    the main process writes and every process waits for it."""
    clear, checkpoint = plan_output_dir(output_dir, recipe, report_file, resume=resume, overwrite=overwrite,
                                        where=where)
    main = state is None or state.is_main_process
    if state is not None:
        state.wait_for_everyone()
    if main:
        out = Path(output_dir)
        if clear and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / report_file).unlink(missing_ok=True)
        atomic_write_json(out / RUN_FILE, {"recipe": json.loads(json.dumps(dict(recipe), default=str)),
                                           "resumed_from": str(checkpoint) if checkpoint else None})
    if state is not None:
        state.wait_for_everyone()
    return checkpoint


def load_checkpoint_weights(model: Any, folder: Path) -> None:
    """Load the weights of ``folder`` (a ``checkpoint-N`` of this run) into ``model``, strictly.

    Why not the Trainer's own loading: transformers 5 saves Qwen2.5-VL weights under their legacy
    names (``visual.*``, ``model.layers.*``) and its resume path loads them with ``strict=False``
    into a model whose names are ``model.visual.*``, ``model.language_model.*``: nothing matches,
    nothing is loaded, a warning is logged and the run "resumes" from the initial weights. Here the
    saved names are mapped back through the model's own save conversion, and a name that does not
    map is an error, never a silent skip."""
    import safetensors.torch
    from transformers.core_model_loading import revert_weight_conversion

    own = model.state_dict()
    by_storage: dict[int, list[str]] = {}
    for name, tensor in own.items():
        by_storage.setdefault(tensor.data_ptr(), []).append(name)
    saved_as = revert_weight_conversion(model, dict(own))
    rename = {saved: by_storage[t.data_ptr()] for saved, t in saved_as.items() if t.data_ptr() in by_storage}
    index = Path(folder) / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    state: dict[str, Any] = {}
    for file in files:
        state.update(safetensors.torch.load_file(str(Path(folder) / file), device="cpu"))
    renamed: dict[str, Any] = {}
    for saved, tensor in state.items():
        if saved not in rename:
            raise ConfigError(f"{folder}: weight {saved!r} does not belong to the model being trained; "
                              "resume: never starts over")
        for name in rename[saved]:
            renamed[name] = tensor
    missing = sorted(set(own) - set(renamed))
    if missing:
        raise ConfigError(f"{folder}: {len(missing)} weight(s) of the model are missing, e.g. {missing[0]!r}; "
                          "resume: never starts over")
    model.load_state_dict(renamed, strict=True)


class CheckpointWeights:
    """Trainer mixin: resume loads a checkpoint's weights with ``load_checkpoint_weights``."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        if getattr(self, "is_deepspeed_enabled", False) or getattr(self, "is_fsdp_enabled", False):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]
        load_checkpoint_weights(model if model is not None else self.model, Path(resume_from_checkpoint))
        return None
