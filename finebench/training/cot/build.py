"""Chain-of-thought SFT data from a teacher MLLM (Fine-R1 §4.2), for one image per seen class.

1. Visual concepts: the teacher captions the image several times (sampled); the comma-separated
   attribute phrases that several captions agree on are kept, most agreed first. Agreement is the
   relevance filter: a phrase one sample invents is usually a hallucination.
2. Structured CoT: the teacher answers the paper's Table 5 prompt (COT_PROMPT, verbatim), which
   names the label and the concepts and asks for ``<analysis>``, ``<options>`` (at most four
   candidate sub-categories), ``<comparison>`` and ``<prediction>``. The paper shows the teacher
   the label, so the reasoning is a rationale for a known answer; ``CotSettings.cot_prompt`` takes
   any other template (e.g. one without ``{label}``, to make the teacher reach the answer itself).
3. Rejection sampling: up to ``max_tries`` samples per image until one is kept. A try is kept only
   if it is entirely in one language (a teacher drifting into another script is a known failure),
   has all four sections, predicts the ground truth exactly (up to case, underscores and
   whitespace) and lists it among its own candidates. An image without a kept try is rejected.
4. Conversion to the release's SFT format: ``<think>`` with the four sections as plain-text
   headings, then ``<answer>LABEL</answer>`` with the dataset's spelling of the label.

Every teacher response is stored in a ResponseCache keyed by teacher, stage, image, prompt, try
and generation settings, one transaction per batch, so an interrupted run resumes where it
stopped and a finished run re-runs without asking the teacher anything.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finebench.adapters.base import Adapter
from finebench.adapters.instance import Request
from finebench.data.formats import (
    SampleProblem,
    Stage1Sample,
    enforce_policy,
    write_stage1,
)
from finebench.data.manifest import ManifestRecord
from finebench.evaluation.cache import ResponseCache, response_key
from finebench.tasks.prompts import prompt_hash
from finebench.training.cot.parse import StructuredCot, aggregate_concepts, judge_try, to_stage1
from finebench.training.fewshot import TrainingSet
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json
from finebench.util.imaging import load_rgb

CAPTION_PROMPT = (
    "Describe the {noun} in this image in detail. List its visible attributes (overall shape and size, "
    "colours, patterns and distinctive parts) as short phrases separated by commas."
)

COT_PROMPT = (
    "This is a picture of a {label} with the following visual features: {concepts}. Based on the information "
    "provided, please answer the following question. Question: {question}. Note that you MUST first analyze the "
    "visual features that help you provide at most four candidate subcategories of the same super-category, then "
    "pay attention to the differences between candidate subcategories and make a detailed comparison between them "
    "to find evidence that help you make a prediction. The visual analysis process, candidate subcategories, "
    "comparison process, and final predicted subcategory are enclosed with `<analysis></analysis>`, "
    "`<options></options>`, `<comparison></comparison>`, and `<prediction></prediction>` tags, respectively, i.e., "
    "`<analysis>visual analysis process here</analysis><options>candidate subcategories here</options>"
    "<comparison>comparison process here</comparison><prediction>predicted subcategory here</prediction>`."
)
"""The paper's CoT-construction prompt (Fine-R1, Table 5), verbatim."""
COT_PROMPT_FIELDS = ("label", "concepts", "question", "noun")
"""What a CoT template may use; ``{noun}`` is the super-category (bird, car...)."""

CAPTION_TASK = "cot-captions"
REASONING_TASK = "cot-reasoning"
STAGE1_FILE = "stage1_cot.json"
REPORT_FILE = "cot_report.json"


@dataclass(frozen=True)
class CotSettings:
    noun: str
    """The super-category as the prompts name it: bird, car, aircraft, dog, flower, pet."""
    questions: tuple[str, ...]
    """Finished question strings; one is drawn per image (seeded) for the user turn."""
    n_captions: int = 5
    min_support: int = 2
    """A concept must appear in this many captions to be kept."""
    max_concepts: int = 10
    max_tries: int = 8
    images_per_class: int = 1
    caption_generation: dict[str, Any] = field(
        default_factory=lambda: {"do_sample": True, "temperature": 0.7, "max_new_tokens": 256}
    )
    cot_generation: dict[str, Any] = field(
        default_factory=lambda: {"do_sample": True, "temperature": 0.7, "max_new_tokens": 2048}
    )
    seed: int = 0
    batch_size: int = 8
    on_bad_sample: str = "error"
    cot_prompt: str = COT_PROMPT
    """The reasoning prompt; any of the fields in COT_PROMPT_FIELDS, in str.format syntax."""

    def __post_init__(self) -> None:
        if not self.questions:
            raise FinebenchError("CoT construction needs at least one question")
        try:
            self.cot_prompt.format(**{name: "" for name in COT_PROMPT_FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise FinebenchError(
                f"CotSettings.cot_prompt: {type(exc).__name__} {exc}; a template may use "
                f"{', '.join('{' + n + '}' for n in COT_PROMPT_FIELDS)} (write literal braces as {{{{ }}}})"
            ) from None
        for name in ("n_captions", "min_support", "max_concepts", "max_tries", "images_per_class", "batch_size"):
            if getattr(self, name) < 1:
                raise FinebenchError(f"CotSettings.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class CotOutcome:
    index: int
    image_path: str
    label: str
    concepts: list[str]
    kept: bool
    rejections: list[str]
    """The rejection reason of every failed try, in order."""


@dataclass
class CotReport:
    kept: int
    rejected: int
    rejections: dict[str, int]
    """Failed tries by reason, over all images."""
    problems: list[SampleProblem]
    """Images that could not be processed (missing files); indices refer to the job list."""
    outcomes: list[CotOutcome]


@dataclass(frozen=True)
class _Job:
    index: int
    record: ManifestRecord
    question: str


# ---- the pipeline --------------------------------------------------------------------------------


def _jobs(training_set: TrainingSet, settings: CotSettings) -> list[_Job]:
    jobs = []
    for records in training_set.by_class().values():
        for record in records[: settings.images_per_class]:
            question = random.Random(f"{settings.seed}:{record.image_path}").choice(settings.questions)
            jobs.append(_Job(len(jobs), record, question))
    return jobs


class _Teacher:
    """Asks the teacher through the cache: cached responses are served, the rest generated in
    batches and stored batch by batch."""

    def __init__(self, adapter: Adapter, cache: ResponseCache, batch_size: int) -> None:
        self.adapter = adapter
        self.cache = cache
        self.batch_size = batch_size
        self.fingerprint = adapter.fingerprint()

    def ask(self, stage: str, template: str, requests: list[tuple[Request, str]]) -> list[str]:
        """``requests`` are (request, image path) pairs; responses come back in order."""
        stage_hash = hashlib.sha256(f"{stage}\0{template}".encode()).hexdigest()[:16]
        # Keyed by image path (in the prompt hash), not by position (doc_id 0), so a run over a
        # changed class list still reuses every answer it already has.
        keys = [
            response_key(self.fingerprint, stage_hash, 0, r.trial, dict(r.gen_kwargs), prompt_hash(r.prompt, path))
            for r, path in requests
        ]
        found = self.cache.get_many(keys)
        pending = [i for i, key in enumerate(keys) if key not in found]
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            outputs = self.adapter.generate([requests[i][0] for i in chunk])
            if len(outputs) != len(chunk):
                raise FinebenchError(f"teacher returned {len(outputs)} responses for {len(chunk)} requests")
            rows = [(keys[i], self.fingerprint, stage, requests[i][0].doc_id, requests[i][0].trial, out)
                    for i, out in zip(chunk, outputs, strict=True)]
            self.cache.put_many(rows)
            found.update({keys[i]: out for i, out in zip(chunk, outputs, strict=True)})
        return [found[key] for key in keys]


def build_cot_data(
    training_set: TrainingSet,
    data_root: Path,
    teacher: Adapter,
    out_dir: Path,
    settings: CotSettings,
    *,
    cache_path: Path | None = None,
    progress: Any = None,
) -> tuple[list[Stage1Sample], CotReport]:
    """Write ``out_dir/stage1_cot.json`` (release SFT format) and ``out_dir/cot_report.json``.

    ``teacher`` is any text adapter; its responses are cached in ``cache_path`` [default:
    ``out_dir/teacher.sqlite``]. ``progress`` is anything with rich's ``add_task``/``advance``
    [default: a rich progress bar on stderr]. Image paths in the output are relative to
    ``data_root``, as in the released file, so SFT takes ``image_root: data_root``.
    """
    if teacher.output != "text":
        raise FinebenchError(f"the CoT teacher must generate text; {type(teacher).__name__} scores options")
    data_root, out_dir = Path(data_root), Path(out_dir)
    all_jobs = _jobs(training_set, settings)
    problems = [
        SampleProblem(job.index, f"image not found: {data_root / job.record.image_path}")
        for job in all_jobs
        if not (data_root / job.record.image_path).is_file()
    ]
    jobs: list[_Job] = enforce_policy(all_jobs, problems, settings.on_bad_sample, f"{training_set.dataset} CoT data")
    images = {job.index: load_rgb(data_root / job.record.image_path) for job in jobs}

    bar = _progress_bar() if progress is None else nullcontext(progress)
    with ResponseCache(cache_path or out_dir / "teacher.sqlite") as cache, bar as progress:
        teacher_cache = _Teacher(teacher, cache, settings.batch_size)
        concepts = _concepts(teacher_cache, jobs, images, settings, progress)
        outcomes, kept = _reason(teacher_cache, jobs, images, concepts, settings, progress)

    samples = [to_stage1(cot, job.record.class_name, job.question, job.record.image_path) for job, cot in kept]
    rejections = Counter(reason for o in outcomes for reason in o.rejections)
    report = CotReport(len(samples), len(outcomes) - len(samples), dict(rejections), problems, outcomes)
    write_stage1(out_dir / STAGE1_FILE, samples)
    atomic_write_json(out_dir / REPORT_FILE, _report_json(training_set, report))
    return samples, report


def _progress_bar() -> Any:
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True))


def _concepts(
    teacher: _Teacher, jobs: list[_Job], images: dict[int, Any], settings: CotSettings, progress: Any
) -> dict[int, list[str]]:
    prompt = CAPTION_PROMPT.format(noun=settings.noun)
    requests = [
        (
            Request(CAPTION_TASK, job.index, c, prompt, images[job.index], (),
                    {**settings.caption_generation, "seed": settings.seed + c}),
            job.record.image_path,
        )
        for job in jobs
        for c in range(settings.n_captions)
    ]
    bar = progress.add_task("visual concepts", total=len(jobs)) if progress is not None else None
    captions = teacher.ask(CAPTION_TASK, CAPTION_PROMPT, requests)
    if bar is not None:
        progress.advance(bar, len(jobs))
    n = settings.n_captions
    return {
        job.index: aggregate_concepts(captions[i * n : (i + 1) * n], settings.min_support, settings.max_concepts)
        for i, job in enumerate(jobs)
    }


def _reason(
    teacher: _Teacher,
    jobs: list[_Job],
    images: dict[int, Any],
    concepts: dict[int, list[str]],
    settings: CotSettings,
    progress: Any,
) -> tuple[list[CotOutcome], list[tuple[_Job, StructuredCot]]]:
    """Round ``t`` asks try ``t`` of every image still without a kept try, in one batch."""
    outcomes = {
        job.index: CotOutcome(job.index, job.record.image_path, job.record.class_name, concepts[job.index], False, [])
        for job in jobs
    }
    kept: dict[int, StructuredCot] = {}
    bar = progress.add_task("chain-of-thought", total=len(jobs)) if progress is not None else None
    for attempt in range(settings.max_tries):
        pending = [job for job in jobs if job.index not in kept]
        if not pending:
            break
        gen = {**settings.cot_generation, "seed": settings.seed + attempt}
        requests = [
            (
                Request(REASONING_TASK, job.index, attempt, _cot_prompt(job, concepts[job.index], settings),
                        images[job.index], (), gen),
                job.record.image_path,
            )
            for job in pending
        ]
        for job, text in zip(pending, teacher.ask(REASONING_TASK, settings.cot_prompt, requests), strict=True):
            cot, reason = judge_try(text, job.record.class_name)
            if cot is None:
                outcomes[job.index].rejections.append(reason)
            else:
                kept[job.index] = cot
                outcomes[job.index].kept = True
        if bar is not None:
            progress.advance(bar, len(pending) - sum(1 for job in jobs if job.index not in kept))
    if bar is not None:
        progress.advance(bar, len(jobs) - len(kept))  # the rejected ones are done too
    return [outcomes[job.index] for job in jobs], [(job, kept[job.index]) for job in jobs if job.index in kept]


def _cot_prompt(job: _Job, concepts: list[str], settings: CotSettings) -> str:
    return settings.cot_prompt.format(
        label=job.record.class_name, concepts=", ".join(concepts) or "none", question=job.question, noun=settings.noun
    )


def _report_json(training_set: TrainingSet, report: CotReport) -> dict[str, Any]:
    return {
        "dataset": training_set.dataset,
        "kept": report.kept,
        "rejected": report.rejected,
        "rejections": report.rejections,
        "problems": [{"index": p.index, "reason": p.reason} for p in report.problems],
        "images": [
            {
                "image_path": o.image_path,
                "label": o.label,
                "kept": o.kept,
                "tries": len(o.rejections) + int(o.kept),
                "rejections": o.rejections,
                "concepts": o.concepts,
            }
            for o in report.outcomes
        ],
    }
