"""Running tasks through an adapter: plan requests, serve what the cache has, generate the rest,
score, and write results after every task.

The runner owns everything between a model and a score so that adapters stay small: request
building, image decoding, batching, caching, per-sample failure handling, scoring and logging.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finebench.adapters.base import Adapter, PartialBatchError
from finebench.adapters.instance import Request
from finebench.embeddings.text import CachedEncoder, TextEncoder, load_text_encoder
from finebench.evaluation.cache import ResponseCache
from finebench.evaluation.config import REQUEST_ORDERS, RunConfig
from finebench.evaluation.images import image_rule, preparer
from finebench.evaluation.merge import RESULTS_FILE, check_mergeable, merge_results, read_existing, results_lock
from finebench.evaluation.paths import UnsafeImagePath, item_image_path
from finebench.evaluation.plan import (
    ItemFiles,
    PlannedSample,
    check_adapter_supports,
    effective_metrics,
    item_file,
    order_pending,
    plan_task,
    select_items,
)
from finebench.evaluation.results import SCHEMA_VERSION, environment, group_results, now_iso, summarise_trials
from finebench.models.cards import ModelCard
from finebench.scoring import SampleScore, ScoringContext, ScoringInput, aggregate, score_samples
from finebench.tasks.config import OPTION_ORDERS, PROTOCOLS, TaskConfig
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import RELEASE_OPTION_COUNT
from finebench.tasks.prompts import (
    STRATEGIES,
    applied_strategy,
    task_label_set,
)
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json, atomic_write_jsonl
from finebench.util.generated import generated_kind
from finebench.util.imaging import load_keeping_alpha

log = logging.getLogger("finebench")


@dataclass
class TaskOutcome:
    summary: dict[str, Any]
    meta: dict[str, Any]
    samples: list[dict[str, Any]] = field(repr=False)


class Evaluator:
    """Runs a list of tasks with one adapter; see ``RunConfig`` for the knobs."""

    def __init__(
        self,
        config: RunConfig,
        adapter: Adapter,
        card: ModelCard,
        *,
        index: TaskIndex | None = None,
        image_loader: Callable[[Path], Any] = load_keeping_alpha,
        encoder_loader: Callable[[str], TextEncoder] = load_text_encoder,
        progress: Any = None,
    ) -> None:
        if config.protocol is not None and config.protocol not in PROTOCOLS:
            raise FinebenchError(f"unknown protocol {config.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if config.request_order not in REQUEST_ORDERS:
            raise FinebenchError(f"unknown request order {config.request_order!r}; choose one of {', '.join(REQUEST_ORDERS)}")
        if config.option_order is not None and config.option_order not in OPTION_ORDERS:
            raise FinebenchError(f"unknown option order {config.option_order!r}; choose one of {', '.join(OPTION_ORDERS)}")
        if config.strategy not in STRATEGIES:
            raise FinebenchError(f"unknown strategy {config.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if config.strategy == "icl" and config.icl_pool is None:
            raise FinebenchError("the icl strategy needs --icl-pool (a JSONL of seen-class training images)")
        if config.batch_size < 1:
            raise FinebenchError("--batch-size must be >= 1")
        self.config = config
        self.adapter = adapter
        self.card = card
        self.index = index or TaskIndex()
        self.image_loader = image_loader
        self.encoder_loader = encoder_loader
        self.progress = progress
        self.fingerprint = adapter.fingerprint()
        self._encoder: TextEncoder | None = None
        self._demo_pool: Mapping[str, Sequence[str]] | None = None
        self._item_files = ItemFiles(config.data_root)

    # ---- whole run -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        names = self.index.expand(list(self.config.tasks))
        tasks = [self.index.load(name) for name in names]  # validate every YAML before any work
        self._check_adapter_supports(tasks)
        if self.config.strategy == "icl":
            from finebench.tasks.icl import load_demo_pool

            self._demo_pool = load_demo_pool(self.config.icl_pool)
        if any("ss_relative" in effective_metrics(t, self.config.metrics) for t in tasks):
            self._encoder = CachedEncoder(self.encoder_loader(self.config.ss_encoder))
        results: dict[str, Any] = self._results_skeleton()
        out = self.config.output_path
        with results_lock(out):  # another model's or configuration's results: refused before any work
            if (existing := read_existing(out)) is not None:
                check_mergeable(existing, results["model"], results["config"], out / RESULTS_FILE)
        with ResponseCache(self.config.resolved_cache_path()) as cache:
            for task in tasks:
                outcome = self.run_task(task, cache)
                results["results"][task.name] = outcome.summary
                results["tasks"][task.name] = outcome.meta
                results["groups"] = self._groups(results["results"])
                self._record(task, outcome, results)
        return results

    def _groups(self, task_results: dict[str, Any]) -> dict[str, Any]:
        groups = {g.name: self.index.expand([g.name]) for g in self.index.groups_covered_by(list(task_results))}
        return group_results(task_results, groups)

    def _record(self, task: TaskConfig, outcome: TaskOutcome, results: dict[str, Any]) -> None:
        """Merge this run's results into the folder's (under its lock, re-read: a concurrent run's
        tasks are kept) and write the task's samples file."""
        out = self.config.output_path
        with results_lock(out):
            existing = read_existing(out)
            if existing is not None:
                check_mergeable(existing, results["model"], results["config"], out / RESULTS_FILE)
            merged = merge_results(existing, results)
            merged["groups"] = self._groups(merged["results"])
            atomic_write_jsonl(out / f"samples_{task.name}.jsonl", outcome.samples)
            atomic_write_json(out / RESULTS_FILE, merged)

    def _check_adapter_supports(self, tasks: list[TaskConfig]) -> None:
        check_adapter_supports(type(self.adapter), self.card, tasks, self.config.strategy)

    def _results_skeleton(self) -> dict[str, Any]:
        c = self.config
        return {
            "schema_version": SCHEMA_VERSION,
            "created": now_iso(),
            "model": {
                "name": self.card.name,
                "display_name": self.card.display_name or None,
                "adapter": self.card.adapter,
                "model": self.card.model,
                "family": self.card.family,
                "fingerprint": self.fingerprint,
                "settings": self.adapter.settings(),
            },
            "config": {
                "tasks": list(c.tasks),
                "protocol": c.protocol,
                "seed": c.seed,
                "trials": c.trials,
                "limit": c.limit,
                "batch_size": c.batch_size,
                "metrics": list(c.metrics) if c.metrics else None,
                "data_root": str(c.data_root),
                "ss_encoder": c.ss_encoder if self._encoder is not None else None,
                "request_order": c.request_order,
                "option_order": c.option_order,
                "strategy": c.strategy,
                "icl_pool": str(c.icl_pool) if c.icl_pool else None,
                "model_args": dict(c.model_args),
                "gen_kwargs": dict(c.gen_kwargs),
            },
            "results": {},
            "groups": {},
            "tasks": {},
            "environment": environment(),
        }

    # ---- one task --------------------------------------------------------------------------
    def run_task(self, task: TaskConfig, cache: ResponseCache) -> TaskOutcome:
        c = self.config
        protocol = c.protocol or task.protocol
        seed = task.seed if c.seed is None else c.seed
        trials = task.trials if c.trials is None else c.trials
        if c.option_order == "circular":
            trials = self._circular_trials(task, c.trials)
        metrics = effective_metrics(task, c.metrics)
        all_items, items_sha = self._item_files.get(task)
        items_path = item_file(task, c.data_root)
        items = select_items(all_items, c.limit, seed)
        rule = image_rule(protocol, type(self.adapter))
        # the image rule changes what the model sees, so it is part of every cache key
        task_hash = hashlib.sha256(f"{task.config_hash()}:{items_sha}:{protocol}:{rule}".encode()).hexdigest()[:16]
        order = c.option_order or task.protocols[protocol].option_order
        planned = plan_task(
            task, items, protocol=protocol, seed=seed, trials=trials, model_fingerprint=self.fingerprint,
            task_hash=task_hash, gen_overrides={**self.card.generation, **c.gen_kwargs}, option_order=c.option_order,
            strategy=applied_strategy(c.strategy, task.world), demo_pool=self._demo_pool,
            label_set=task_label_set(all_items) if order == "label-set" else (),
        )
        responses, errors = self._responses(task, planned, cache, seed, preparer(rule))
        summary, samples = self._score(task, protocol, metrics, trials, planned, responses, errors)
        meta = {
            "task_hash": task_hash,
            "config_hash": task.config_hash(),
            "items_sha256": items_sha,
            "version": task.version,
            "dataset": task.dataset,
            "world": task.world,
            "split": task.split,
            "protocol": protocol,
            "option_order": order,
            "image_rule": rule,
            "strategy": applied_strategy(c.strategy, task.world),
            "metrics": list(metrics),
            "n_items_total": len(all_items),
            "seeds": [seed + t for t in range(trials)],
            "source": task.source,
            "generated": generated_kind(items_path, items_sha),
        }
        if errors:
            log.warning("%s: %d of %d samples failed (scored as wrong); see samples_%s.jsonl",
                        task.name, summary["n_errors"], summary["n_samples"], task.name)
        return TaskOutcome(summary, meta, samples)

    @staticmethod
    def _circular_trials(task: TaskConfig, requested: int | None) -> int:
        if task.world != "closed":
            raise FinebenchError(f"task {task.name}: circular option order needs a closed-world task")
        if requested not in (None, RELEASE_OPTION_COUNT):
            raise FinebenchError(
                f"circular option order asks each item once per position: use --trials {RELEASE_OPTION_COUNT}, not {requested}"
            )
        return RELEASE_OPTION_COUNT

    def _responses(
        self, task: TaskConfig, planned: list[PlannedSample], cache: ResponseCache, seed: int,
        prepare: Callable[[Any], Any],
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Cached responses plus fresh ones for the missing keys; failures as key -> message."""
        unique = {s.key: s for s in planned}
        responses = cache.get_many(unique)
        pending = order_pending([s for k, s in unique.items() if k not in responses], self.config.request_order, seed)
        errors: dict[str, str] = {}
        bar = self.progress.add_task(task.name, total=len(pending)) if self.progress is not None else None
        size = self.adapter.batch_size_hint or self.config.batch_size
        batches = [pending[i : i + size] for i in range(0, len(pending), size)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            # images of the next batch are decoded while the model works on this one
            upcoming = self._load_async(batches[0], pool, prepare) if batches else []
            for number, batch in enumerate(batches):
                loaded = [future.result() for future in upcoming]
                upcoming = self._load_async(batches[number + 1], pool, prepare) if number + 1 < len(batches) else []
                fresh, failed = self._run_batch(task, batch, loaded)
                cache.put_many((k, self.fingerprint, task.name, unique[k].item.doc_id, unique[k].trial, r) for k, r in fresh.items())
                responses.update(fresh)
                errors.update(failed)
                if bar is not None:
                    self.progress.advance(bar, len(batch))
        return responses, errors

    def _load_async(self, batch: list[PlannedSample], pool: ThreadPoolExecutor, prepare: Callable[[Any], Any]) -> list[Future]:
        return [pool.submit(self._try_load_all, [s.item.image_path, *(p for p, _ in s.demonstrations)], prepare)
                for s in batch]

    def _run_batch(
        self, task: TaskConfig, batch: list[PlannedSample], loaded: list[tuple[list[Any], str | None]]
    ) -> tuple[dict[str, str], dict[str, str]]:
        failed = {s.key: err for s, (_, err) in zip(batch, loaded) if err is not None}
        ready = [(s, images) for s, (images, err) in zip(batch, loaded) if err is None]
        requests = [
            Request(task.name, s.item.doc_id, s.trial, s.prompt, images[0], s.options, s.gen_kwargs,
                    demonstrations=tuple(zip(images[1:], (label for _, label in s.demonstrations))),
                    strategy=applied_strategy(self.config.strategy, task.world))
            for s, images in ready
        ]
        try:
            outputs = self._ask(requests)
            fresh = {s.key: out for (s, _), out in zip(ready, outputs, strict=True)}
        except PartialBatchError as partial:  # the adapter retried each request already
            fresh = {}
            for (sample, _), output, error in zip(ready, partial.outputs, partial.errors, strict=True):
                if error is None and isinstance(output, str):
                    fresh[sample.key] = output
                else:
                    failed[sample.key] = f"generation failed: {error}"
        except Exception as batch_exc:  # isolate the failing sample(s) one by one
            log.warning("%s: batch of %d failed (%s); retrying one by one", task.name, len(requests), batch_exc)
            fresh = {}
            for (sample, _), request in zip(ready, requests):
                try:
                    fresh[sample.key] = self._ask([request])[0]
                except Exception as exc:
                    failed[sample.key] = f"generation failed: {type(exc).__name__}: {exc}"
        return fresh, failed

    def _try_load_all(self, relative_paths: list[str], prepare: Callable[[Any], Any]) -> tuple[list[Any], str | None]:
        """All images of one request, prepared by the task's image rule, or the first failure (a
        request is only sent whole)."""
        images = []
        for relative in relative_paths:
            try:
                path = item_image_path(self.config.data_root, relative, allow_outside=self.config.allow_outside_data_root)
                images.append(prepare(self.image_loader(path)))
            except UnsafeImagePath as exc:
                return [], str(exc)
            except FileNotFoundError:
                return [], f"image not found: {path}"
            except Exception as exc:
                return [], f"cannot decode image {path}: {type(exc).__name__}: {exc}"
        return images, None

    def _ask(self, requests: list[Request]) -> list[str]:
        if not requests:
            return []
        if self.adapter.output == "text":
            outputs = self.adapter.generate(requests)
        else:  # contrastive: the best-scoring option is the answer
            outputs = [
                f"<answer>{r.options[max(range(len(s)), key=s.__getitem__)]}</answer>"
                for r, s in zip(requests, self.adapter.score_options(requests), strict=True)
            ]
        if len(outputs) != len(requests) or not all(isinstance(o, str) for o in outputs):
            raise FinebenchError(f"adapter returned {len(outputs)} outputs for {len(requests)} requests")
        return outputs

    def _score(
        self,
        task: TaskConfig,
        protocol: str,
        metrics: tuple[str, ...],
        trials: int,
        planned: list[PlannedSample],
        responses: dict[str, str],
        errors: dict[str, str],
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        context = ScoringContext(
            protocol, task.world, task.super_category, task.open_target, task.protocols[protocol].answer_extraction
        )
        per_trial, rows = [], []
        for trial in range(trials):
            samples = [s for s in planned if s.trial == trial]
            inputs = [
                ScoringInput(s.item.doc_id, responses.get(s.key), s.item.ground_truth, s.options, s.item.image_path)
                for s in samples
            ]
            scores = score_samples(context, inputs, metrics, self._encoder)
            per_trial.append(aggregate(scores, metrics))
            rows.extend(sample_row(s, responses.get(s.key), errors.get(s.key), score) for s, score in zip(samples, scores))
        rows.sort(key=lambda r: (r["doc_id"], r["trial"]))
        summary = summarise_trials(per_trial, metrics)
        n_items = len(planned) // trials if trials else 0
        summary.update(n=n_items, n_samples=len(planned), n_errors=sum(1 for r in rows if r["error"]))
        return summary, rows


def sample_row(sample: PlannedSample, response: str | None, error: str | None, score: SampleScore) -> dict[str, Any]:
    return {
        "doc_id": sample.item.doc_id,
        "trial": sample.trial,
        "prompt_hash": sample.prompt_hash,
        "image_path": sample.item.image_path,
        "options": list(sample.options),
        "option_seed": sample.option_seed,
        "demonstrations": [list(d) for d in sample.demonstrations],
        "target": sample.item.ground_truth,
        "response": response,
        "answer": score.answer,
        "no_answer": score.no_answer,
        "scores": score.scores,
        "error": error,
    }
