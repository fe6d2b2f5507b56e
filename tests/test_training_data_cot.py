"""CoT data construction with a scripted teacher: concept aggregation, the paper's Table 5 prompt,
rejection sampling (each way a try can fail), the SFT conversion, and resuming from the cache."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from finebench.adapters.instance import Request
from finebench.data.formats import BadSampleWarning, DataFormatError, check_stage1, load_stage1
from finebench.data.manifest import Manifest
from finebench.training.cot.build import CAPTION_TASK, COT_PROMPT, REASONING_TASK, CotSettings, build_cot_data
from finebench.training.cot.parse import (
    MALFORMED,
    MIXED_LANGUAGE,
    NOT_AMONG_OPTIONS,
    WRONG_PREDICTION,
    aggregate_concepts,
    is_mixed_language,
    judge_try,
    normalise_label,
    parse_structured_cot,
    split_concepts,
)
from finebench.training.fewshot import TrainingSet, build_training_set
from finebench.util.errors import FinebenchError
from tests.fakes import ScriptedAdapter

PAPER_TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "paper-tables.md"
QUESTIONS = ("What kind of bird is this?", "Can you identify the bird in this image?")
CAPTIONS = (
    "red crown, black face mask, short conical bill",
    "Red crown; black face mask; pointed crest",
    "- short conical bill\n- red crown\n- long tail",
)


def cot(prediction: str, options: list[str], analysis: str = "A red bird with a crest.") -> str:
    listed = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(options))
    return (f"<analysis>{analysis}</analysis>\n<options>\n{listed}\n</options>\n"
            "<comparison>Only one candidate has all of these features.</comparison>\n"
            f"<prediction>{prediction}</prediction>")


def test_concepts_are_split_and_kept_by_agreement() -> None:
    phrases = split_concepts("- Red crown.\n2) short bill; white wing-bars, a")
    assert phrases == ["red crown", "short bill", "white wing-bars"]
    assert aggregate_concepts(CAPTIONS, min_support=2, max_concepts=10) == [
        "red crown", "black face mask", "short conical bill"]
    assert aggregate_concepts(CAPTIONS, min_support=2, max_concepts=1) == ["red crown"]
    # No agreement at all: the most mentioned phrases, in first-mention order, are what there is.
    assert aggregate_concepts(["a b, c d", "e f"], min_support=2, max_concepts=2) == ["a b", "c d"]


def test_structured_cot_parsing_and_judging() -> None:
    parsed = parse_structured_cot(cot("Red Cardinal", ["Red Cardinal", "Scarlet Tanager", "- Vermilion Flycatcher"]))
    assert parsed.options == ("Red Cardinal", "Scarlet Tanager", "Vermilion Flycatcher")
    assert parsed.prediction == "Red Cardinal" and parsed.analysis == "A red bird with a crest."
    with pytest.raises(ValueError, match="<comparison>"):
        parse_structured_cot("<analysis>a</analysis><options>b</options><prediction>c</prediction>")

    good = cot("red_cardinal.", ["Red  Cardinal", "Scarlet Tanager"])
    assert judge_try(good, "Red Cardinal")[1] is None
    label = "Red Cardinal"
    assert judge_try(cot("Scarlet Tanager", [label, "Scarlet Tanager"]), label) == (None, WRONG_PREDICTION)
    assert judge_try(cot(label, ["Summer Tanager"]), label) == (None, NOT_AMONG_OPTIONS)
    assert judge_try(cot(label, [label], analysis="红色的鸟"), label) == (None, MIXED_LANGUAGE)
    assert judge_try("The bird is a Red Cardinal.", "Red Cardinal") == (None, MALFORMED)
    assert normalise_label("  Black_footed   Albatross. ") == "black footed albatross"
    assert not is_mixed_language("Café crème, 747-400 (Boeing)") and is_mixed_language("Красный кардинал")


def scripted_teacher(labels: list[str], name: str = "teacher", fail_on=None) -> ScriptedAdapter:
    """Per job (doc_id): 0 right at once, 1 wrong then right, 2 never right, 3 always mixed
    language, 4 right but not among its own candidates, 5 right at the last try."""

    def rule(request: Request) -> str:
        asked.append(request)
        if request.task == CAPTION_TASK:
            return CAPTIONS[request.trial % len(CAPTIONS)]
        label, attempt = labels[request.doc_id], request.trial
        others = [c for c in labels if c != label][:3]
        behaviour = {
            0: cot(label, [label, *others]),
            1: cot(others[0] if attempt == 0 else label, [label, *others]),
            2: cot(others[1], [label, *others]),
            3: cot(label, [label, *others], analysis="这只鸟 is red"),
            4: cot(label, others),
            5: cot(label, [label, *others]) if attempt == 2 else "I am not sure.",
        }
        return behaviour[request.doc_id]

    asked: list[Request] = []
    teacher = ScriptedAdapter(rule, name=name, fail_on=fail_on)
    teacher.asked = asked  # type: ignore[attr-defined]
    return teacher


class RecordingProgress:
    def __init__(self) -> None:
        self.totals: dict[int, int] = {}
        self.done: dict[int, int] = {}

    def add_task(self, name: str, total: int) -> int:
        self.totals[len(self.totals)] = total
        self.done[len(self.done)] = 0
        return len(self.totals) - 1

    def advance(self, task: int, amount: int) -> None:
        self.done[task] += amount


@pytest.fixture
def training(fgvr_train_root: tuple[Path, Manifest]) -> TrainingSet:
    _, manifest = fgvr_train_root
    return build_training_set(manifest, manifest.classes, [], k=3, seed=0)


def settings(**changes) -> CotSettings:
    return CotSettings(**{"noun": "bird", "questions": QUESTIONS, "n_captions": 3, "max_tries": 3, "batch_size": 4,
                          **changes})


def test_rejection_sampling_keeps_only_verified_reasoning(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest], training: TrainingSet
) -> None:
    root, manifest = fgvr_train_root
    labels = list(training.by_class())
    teacher, progress = scripted_teacher(labels), RecordingProgress()
    samples, report = build_cot_data(training, root, teacher, tmp_path, settings(), progress=progress)

    assert [(o.label, o.kept, o.rejections) for o in report.outcomes] == [
        (labels[0], True, []),
        (labels[1], True, [WRONG_PREDICTION]),
        (labels[2], False, [WRONG_PREDICTION] * 3),
        (labels[3], False, [MIXED_LANGUAGE] * 3),
        (labels[4], False, [NOT_AMONG_OPTIONS] * 3),
        (labels[5], True, [MALFORMED, MALFORMED]),
    ]
    assert (report.kept, report.rejected) == (3, 3)
    assert report.rejections == {WRONG_PREDICTION: 4, MIXED_LANGUAGE: 3, NOT_AMONG_OPTIONS: 3, MALFORMED: 2}
    assert report.outcomes[0].concepts == ["red crown", "black face mask", "short conical bill"]
    assert progress.totals == progress.done == {0: 6, 1: 6}

    # The teacher saw one image per class and the paper's Table 5 prompt with its label, concepts
    # and question; one batch per round.
    reasoning = [r for r in teacher.asked if r.task == REASONING_TASK]
    assert all("red crown, black face mask, short conical bill" in r.prompt for r in reasoning)
    assert all(r.prompt.startswith(f"This is a picture of a {labels[r.doc_id]} with the following visual features: ")
               for r in reasoning)
    assert teacher.n_generated == 6 * 3 + 6 + 5 + 4  # captions, then rounds of the still-pending

    # SFT format of the release; images relative to the data root, labels spelled as the dataset's.
    kept_records = [training.by_class()[labels[i]][0] for i in (0, 1, 5)]
    for sample, record in zip(samples, kept_records, strict=True):
        assert sample.images == (record.image_path,) and sample.answer() == record.class_name
        assert sample.prompt.startswith("<image>") and sample.prompt[len("<image>"):] in QUESTIONS
        assert re.fullmatch(
            r"<think>\nAnalysis of Visual Features:\n.+\n\nCandidate Subcategories:\n(- .+\n)+\n"
            r"Comparison Process:\n.+\n\nThe prediction is: .+\n</think>\n\n<answer>.+</answer>",
            sample.response, re.DOTALL)
    assert load_stage1(tmp_path / "stage1_cot.json") == samples
    assert check_stage1(samples, root, manifest.classes) == []
    assert (tmp_path / "cot_report.json").is_file()


def test_a_rerun_resumes_from_the_cache(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest], training: TrainingSet
) -> None:
    root, _ = fgvr_train_root
    labels = list(training.by_class())
    crashing = scripted_teacher(labels, fail_on=lambda r: r.task == REASONING_TASK and r.trial == 1)
    with pytest.raises(RuntimeError, match="scripted failure"):
        build_cot_data(training, root, crashing, tmp_path, settings())
    assert crashing.n_generated == 6 * 3 + 6 + 4  # captions, round 0, a failed batch of round 1

    resumed = scripted_teacher(labels)
    first, report = build_cot_data(training, root, resumed, tmp_path, settings())
    assert resumed.n_generated == 5 + 4  # only rounds 1 and 2: the rest came from the cache
    assert report.kept == 3

    idle = scripted_teacher(labels)
    again, _ = build_cot_data(training, root, idle, tmp_path, settings())
    assert idle.n_generated == 0 and again == first

    other_teacher = scripted_teacher(labels, name="another-teacher")  # another model: nothing reused
    build_cot_data(training, root, other_teacher, tmp_path, settings())
    assert other_teacher.n_generated == 6 * 3 + 6 + 5 + 4


def test_missing_images_are_refused_or_skipped_by_index(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest], training: TrainingSet
) -> None:
    root, _ = fgvr_train_root
    shutil.copytree(root, tmp_path / "root")
    labels = list(training.by_class())
    (tmp_path / "root" / training.by_class()[labels[2]][0].image_path).unlink()
    with pytest.raises(DataFormatError, match="sample 2: image not found"):
        build_cot_data(training, tmp_path / "root", scripted_teacher(labels), tmp_path / "out", settings())
    with pytest.warns(BadSampleWarning, match="skipped 1 bad sample"):
        _, report = build_cot_data(training, tmp_path / "root", scripted_teacher(labels), tmp_path / "out",
                                   settings(on_bad_sample="skip"))
    assert [p.index for p in report.problems] == [2]
    assert [o.index for o in report.outcomes] == [0, 1, 3, 4, 5]


def test_default_prompt_is_the_papers_table5_template_verbatim() -> None:
    if not PAPER_TABLES.is_file():
        pytest.skip("shared paper-tables.md not present")
    block = PAPER_TABLES.read_text(encoding="utf-8").split("## Table 5")[1].split("```")[1]
    assert COT_PROMPT == block.strip()
    assert CotSettings(noun="bird", questions=QUESTIONS).cot_prompt == COT_PROMPT


def test_a_label_blind_template_keeps_the_label_from_the_teacher(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest], training: TrainingSet
) -> None:
    root, _ = fgvr_train_root
    labels = list(training.by_class())
    teacher = scripted_teacher(labels)
    blind = "Question: {question}\nConcepts: {concepts}. Name the {noun}: <analysis>, <options>, <comparison>, <prediction>."
    _, report = build_cot_data(training, root, teacher, tmp_path, settings(cot_prompt=blind))
    reasoning = [r.prompt for r in teacher.asked if r.task == REASONING_TASK]
    assert reasoning and all(p.startswith("Question: ") and "Name the bird" in p for p in reasoning)
    assert not any(label in prompt for prompt in reasoning for label in labels)
    assert report.kept == 3


def test_options_may_be_listed_on_one_line() -> None:
    text = cot("Red Cardinal", []).replace("<options>\n\n</options>", "<options>Red Cardinal, Scarlet Tanager; Summer Tanager</options>")
    assert parse_structured_cot(text).options == ("Red Cardinal", "Scarlet Tanager", "Summer Tanager")


def test_settings_are_validated() -> None:
    with pytest.raises(FinebenchError, match="max_tries must be >= 1"):
        settings(max_tries=0)
    with pytest.raises(FinebenchError, match=r"cot_prompt: KeyError 'species'"):
        settings(cot_prompt="This is a {species}.")
    with pytest.raises(FinebenchError, match="cot_prompt: ValueError"):
        settings(cot_prompt="a {label")
    with pytest.raises(FinebenchError, match="at least one question"):
        CotSettings(noun="bird", questions=())
