"""finebench tasks as lmms-eval tasks: ``export_lmms_eval`` writes one lmms-eval task YAML per
finebench task, a group YAML over them and a generated ``finebench_utils.py`` with their hooks.

Why the hooks call finebench instead of carrying a copy of its prompt and scoring code: the point of
an export is that ``lmms-eval --tasks finebench`` and ``finebench run`` give the same number for the
same responses. A copied scorer would drift the first time finebench fixes a scoring rule, and the
fine-r1 protocol's quirks (greedy ``<answer>`` extraction, car names cut by image path, the
super-category word guessed from the path...) are exactly the details a copy gets subtly wrong.
So the generated module only binds constants (data root, encoder, each task's prompt template,
protocol and metrics) to ``ExportedTask``, whose methods call ``finebench.tasks.prompts.render_prompt``,
``finebench.evaluation.plan.load_image`` and ``finebench.scoring.score_samples`` as the runner does. The
price is that finebench must be importable wherever lmms-eval runs the exported tasks.

What each exported task reproduces: ``finebench run`` with the task's default protocol (or the one
given at export), one trial (trial 0, whose seed is the task's seed) and the protocol's option
order (``release`` for fine-r1; ``shuffled`` for finebench, with the same per-item seeds). lmms-eval
averages the per-sample 0..1 scores, so its numbers are finebench's percentages divided by 100.
Two lmms-eval behaviours cannot be undone here: it strips whitespace around every response before
``process_results`` and turns a failed generation into ``""`` (finebench scores such a sample 0 on
every metric; ``""`` also scores 0 except, in principle, for an open-world SS_relative).

lmms-eval details the generated YAML has to take care of (checked against lmms-eval 0.7.3):

* ``generation_kwargs`` without ``until`` get ``until: ["\\n\\n"]``, which would cut a
  ``<think>`` trace at its first blank line; the export writes ``until: []``.
* lmms-eval's CLI strips ``<think>``/``<analysis>`` blocks from responses before scoring unless a
  task sets ``reasoning_tags``; the fine-r1 scorer needs the whole response, so tasks set
  ``reasoning_tags: none``.
* every ``!function`` tag executes the utils file afresh as a new module, so nothing shared (the
  SS_relative encoder) may live in it; the encoder is cached in this module instead.
* ``process_results`` runs in a thread pool, so loading and calling the encoder is serialised.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finebench.evaluation.config import DEFAULT_SS_ENCODER
from finebench.evaluation.plan import effective_metrics, file_sha256, item_file, load_image
from finebench.scoring import ALL_METRICS, ScoringContext, ScoringInput, score_samples
from finebench.tasks.config import PROTOCOLS, TaskConfig
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import Item, load_items, parse_item
from finebench.tasks.prompts import render_prompt, trial_options
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_text

__all__ = ["GROUP", "TASK_PREFIX", "UTILS_MODULE", "ExportedTask", "export_lmms_eval", "lmms_task_name"]

TASK_PREFIX = "finebench_"
GROUP = "finebench"
UTILS_MODULE = "finebench_utils"
SPLIT = "test"
DOC_ID = "finebench_doc_id"
"""Column ``process_docs`` adds: the 0-based row index, finebench's doc_id (shuffled options and
``finebench score`` files are keyed by it)."""
EXPORTABLE_OPTION_ORDERS = ("release", "shuffled")
HOOKS = ("process_docs", "doc_to_visual", "doc_to_text", "process_results")


def lmms_task_name(task: str) -> str:
    return f"{TASK_PREFIX}{task}"


# ---- runtime: what the generated hooks call ---------------------------------------------------

_ENCODER_LOCK = threading.Lock()
_ENCODERS: dict[str, Any] = {}


def shared_encoder(spec: str) -> Any:
    """The SS_relative encoder, loaded once per process (all tasks and hook modules share it)."""
    with _ENCODER_LOCK:
        if spec not in _ENCODERS:
            from finebench.embeddings.text import CachedEncoder, load_text_encoder

            _ENCODERS[spec] = CachedEncoder(load_text_encoder(spec))
        return _ENCODERS[spec]


@dataclass(frozen=True)
class ExportedTask:
    """One finebench task as seen from lmms-eval; its methods are the task's lmms-eval hooks."""

    name: str
    data_root: str
    prompt: str
    world: str
    super_category: str
    open_target: str
    protocol: str
    option_order: str
    answer_extraction: str
    seed: int
    metrics: tuple[str, ...]
    ss_encoder: str | None = None

    def process_docs(self, dataset: Any) -> Any:
        return dataset.add_column(DOC_ID, list(range(len(dataset))))

    def item(self, doc: Mapping[str, Any]) -> Item:
        return parse_item(dict(doc), int(doc[DOC_ID]))

    def options(self, item: Item) -> tuple[str, ...]:
        """The options as ``plan_task`` shows them in trial 0."""
        return trial_options(item, self.option_order, run_seed=self.seed, trial=0)[0]

    def doc_to_text(self, doc: Mapping[str, Any], lmms_eval_specific_kwargs: Any = None) -> str:
        item = self.item(doc)
        return render_prompt(self.prompt, item, self.options(item))

    def doc_to_visual(self, doc: Mapping[str, Any]) -> list:
        return [load_image(Path(self.data_root) / doc["image_path"])]

    def context(self) -> ScoringContext:
        return ScoringContext(self.protocol, self.world, self.super_category, self.open_target, self.answer_extraction)

    def process_results(self, doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, float]:
        item = self.item(doc)
        response = results[0] if results else None
        sample = ScoringInput(item.doc_id, response, item.ground_truth, self.options(item), item.image_path)
        if "ss_relative" in self.metrics:
            if self.ss_encoder is None:
                raise FinebenchError(f"task {self.name}: exported without an SS_relative encoder")
            encoder = shared_encoder(self.ss_encoder)
            with _ENCODER_LOCK:
                (score,) = score_samples(self.context(), [sample], self.metrics, encoder)
        else:
            (score,) = score_samples(self.context(), [sample], self.metrics)
        return {metric: float(score.scores[metric]) for metric in self.metrics}


# ---- export -----------------------------------------------------------------------------------

class _Function(str):
    """A ``!function module.attr`` reference in lmms-eval's YAML dialect."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, lambda dumper, value: dumper.represent_scalar("!function", str(value)))


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def _identifier(task: str) -> str:
    ident = re.sub(r"\W", "_", task, flags=re.ASCII)
    return ident if not ident[:1].isdigit() else f"t_{ident}"


def _encoder_spec(spec: str) -> str:
    """A local encoder directory as an absolute path (lmms-eval may run from another folder)."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _generation_kwargs(task: TaskConfig) -> dict[str, Any]:
    # the lmms adapter's translation of finebench's settings, `until: []` included
    from finebench.adapters.lmms import lmms_gen_kwargs

    return lmms_gen_kwargs(dict(task.generation))


def _task_yaml(task: TaskConfig, spec: ExportedTask, items_path: Path, ident: str) -> str:
    header = (
        f"# lmms-eval task for finebench task {task.name} (protocol {spec.protocol}, options {spec.option_order}, "
        "one trial),\n# generated by finebench.interop.lmms_export; do not edit, export again instead.\n"
    )
    body = {
        "task": lmms_task_name(task.name),
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {SPLIT: str(items_path)}},
        "test_split": SPLIT,
        "output_type": "generate_until",
        **{hook: _Function(f"{UTILS_MODULE}.{ident}_{hook}") for hook in HOOKS},
        "doc_to_target": "ground_truth",
        "reasoning_tags": "none",
        "generation_kwargs": _generation_kwargs(task),
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in spec.metrics],
        "metadata": {
            "version": task.version,
            "finebench_task": task.name,
            "finebench_protocol": spec.protocol,
            "finebench_config_hash": task.config_hash(),
            "finebench_items_sha256": file_sha256(items_path),
        },
    }
    return header + _dump(body)


def _group_yaml(names: Sequence[str], metrics: Sequence[str]) -> str:
    header = "# lmms-eval group of the exported finebench tasks (macro average, as finebench reports groups).\n"
    body = {
        "group": GROUP,
        "task": [lmms_task_name(n) for n in names],
        "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": False} for m in metrics],
        "metadata": {"version": 1},
    }
    return header + _dump(body)


def _utils_module(specs: Mapping[str, ExportedTask], data_root: str, ss_encoder: str | None) -> str:
    lines = [
        '"""lmms-eval hooks of the exported finebench tasks, generated by finebench.lmms_export.',
        "",
        "Do not edit: export again instead. Every hook is a method of finebench.interop.lmms_export.ExportedTask,",
        "so prompts and scores come from finebench itself, exactly as `finebench run` computes them.",
        '"""',
        "",
        "from finebench.interop.lmms_export import ExportedTask",
        "",
        f"DATA_ROOT = {data_root!r}",
        f"SS_ENCODER = {ss_encoder!r}",
    ]
    for ident, spec in specs.items():
        fields = [
            f"    name={spec.name!r},",
            "    data_root=DATA_ROOT,",
            f"    prompt={spec.prompt!r},",
            f"    world={spec.world!r},",
            f"    super_category={spec.super_category!r},",
            f"    open_target={spec.open_target!r},",
            f"    protocol={spec.protocol!r},",
            f"    option_order={spec.option_order!r},",
            f"    answer_extraction={spec.answer_extraction!r},",
            f"    seed={spec.seed!r},",
            f"    metrics={spec.metrics!r},",
            f"    ss_encoder={'SS_ENCODER' if spec.ss_encoder is not None else 'None'},",
        ]
        lines += ["", "", f"_{ident} = ExportedTask(", *fields, ")"]
        lines += [f"{ident}_{hook} = _{ident}.{hook}" for hook in HOOKS]
    return "\n".join(lines) + "\n"


def export_lmms_eval(
    task_names: Sequence[str],
    data_root: Path,
    out_dir: Path,
    *,
    protocol: str | None = None,
    index: TaskIndex | None = None,
    metrics: Sequence[str] | None = None,
    ss_encoder: str = DEFAULT_SS_ENCODER,
) -> list[Path]:
    """Write lmms-eval tasks ``finebench_<task>`` for the tasks and groups named, and the group
    ``finebench`` over them, into ``out_dir``; run them with ``lmms-eval --include_path OUT_DIR``.

    ``protocol``: None for each task's default; ``metrics``: a subset of the tasks' metrics (None:
    all); ``ss_encoder``: the SS_relative text encoder (HF id or local directory), loaded lazily
    once per lmms-eval process. Every item file is validated first; a missing one raises
    ``FinebenchError`` naming the task. Returns the written paths (utils module, task YAMLs in task
    order, group YAML). The files depend only on the arguments and the item files, byte for byte,
    and each is written atomically.
    """
    if protocol is not None and protocol not in PROTOCOLS:
        raise FinebenchError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if metrics is not None:
        unknown = [m for m in metrics if m not in ALL_METRICS]
        if unknown:
            raise FinebenchError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)}")
    index = index or TaskIndex()
    names = index.expand(list(task_names))
    if not names:
        raise FinebenchError("no task to export")
    tasks = [index.load(name) for name in names]
    root = Path(data_root).expanduser().resolve()
    encoder = _encoder_spec(ss_encoder)
    uses_encoder = any("ss_relative" in effective_metrics(t, metrics) for t in tasks)

    specs: dict[str, ExportedTask] = {}
    texts: dict[Path, str] = {}
    out_dir = Path(out_dir)
    task_paths = []
    for task in tasks:
        task_protocol = protocol or task.protocol
        settings = task.protocols[task_protocol]
        if settings.option_order not in EXPORTABLE_OPTION_ORDERS:
            raise FinebenchError(
                f"task {task.name}: protocol {task_protocol} shows options in {settings.option_order!r} order, "
                f"which a one-trial lmms-eval task cannot reproduce (exportable: {', '.join(EXPORTABLE_OPTION_ORDERS)})"
            )
        task_metrics = effective_metrics(task, metrics)
        if not task_metrics:
            raise FinebenchError(
                f"task {task.name}: none of the metrics {', '.join(metrics or ())} applies to a {task.world}-world task "
                f"({', '.join(task.metrics)}); leave it out or add one of its metrics"
            )
        items_path = item_file(task, root)
        load_items(items_path)  # a bad row fails here, naming file and line, not mid-way through lmms-eval
        ident = _identifier(task.name)
        if ident in specs:
            raise FinebenchError(f"tasks {specs[ident].name} and {task.name} map to the same Python name {ident!r}")
        specs[ident] = ExportedTask(
            name=task.name,
            data_root=str(root),
            prompt=task.prompt,
            world=task.world,
            super_category=task.super_category,
            open_target=task.open_target,
            protocol=task_protocol,
            option_order=settings.option_order,
            answer_extraction=settings.answer_extraction,
            seed=task.seed,
            metrics=tuple(task_metrics),
            ss_encoder=encoder if "ss_relative" in task_metrics else None,
        )
        path = out_dir / f"{lmms_task_name(task.name)}.yaml"
        texts[path] = _task_yaml(task, specs[ident], items_path, ident)
        task_paths.append(path)

    group_metrics = list(dict.fromkeys(m for spec in specs.values() for m in spec.metrics))
    utils_path = out_dir / f"{UTILS_MODULE}.py"
    group_path = out_dir / f"{GROUP}.yaml"
    written = [utils_path, *task_paths, group_path]
    texts[utils_path] = _utils_module(specs, str(root), encoder if uses_encoder else None)
    texts[group_path] = _group_yaml(names, group_metrics)
    for path in written:  # everything is rendered before the first write: a failure leaves no half export
        atomic_write_text(path, texts[path])
    return written
