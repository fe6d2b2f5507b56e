"""Both protocols, both worlds, every edge case of extraction and matching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finebench.scoring import ScoringContext, ScoringInput, aggregate, parse_metrics, score_samples
from finebench.scoring.extract import extract_greedy, extract_last
from finebench.scoring.metrics import ss_relative
from finebench.scoring.normalize import contains_phrase, normalize_label
from finebench.scoring.protocols import paper_super_category, picks_only

BIRD = "bird_200/images/001.Black_footed_Albatross/x.jpg"
CAR = "stanford-cars/cars_test/00002.jpg"
BIRD_OPTIONS = ("Black Footed Albatross", "Laysan Albatross", "Sooty Albatross", "Heermann Gull")
CAR_OPTIONS = ("Ferrari 458 Italia Convertible 2012", "Ferrari FF Coupe 2012", "Ferrari California Convertible 2012",
               "Ferrari 458 Italia Coupe 2012")


def one(protocol, world, response, gt="Black Footed Albatross", options=BIRD_OPTIONS, path=BIRD, metrics=None,
        encoder=None, **ctx):
    metrics = metrics or (("accuracy",) if world == "closed" else ("inclusion",))
    context = ScoringContext(protocol, world, ctx.pop("super_category", "bird"), **ctx)
    return score_samples(context, [ScoringInput(0, response, gt, options, path)], metrics, encoder)[0]


# ---- extraction ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "greedy", "last"),
    [
        ("<think>x</think><answer> A </answer>", "A", "A"),
        ("no tags", None, None),
        ("<answer></answer>", "", ""),
        ("<answer>A</answer> then <answer>B</answer>", "A</answer> then <answer>B", "B"),
        ("<answer>A <answer>B</answer>", "A <answer>B", "B"),
        ("<answer>unclosed", None, None),
        ("< Answer >A</ answer >", None, "A"),
        ("<ANSWER>A</ANSWER>", None, "A"),
        ("<answer>line1\nline2</answer>", "line1\nline2", "line1\nline2"),
    ],
)
def test_extractors(response, greedy, last):
    assert extract_greedy(response) == greedy
    assert extract_last(response) == last


# ---- fine-r1, closed -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "correct", "no_answer"),
    [
        ("<think>hmm</think><answer>Black Footed Albatross</answer>", 1.0, False),
        ("<answer>black_footed_albatross</answer>", 1.0, False),  # underscores become spaces, case ignored
        ("<answer>Black Footed Albatross or Laysan Albatross</answer>", 1.0, False),  # substring quirk
        ("<answer>Laysan Albatross</answer>", 0.0, False),
        ("<answer></answer>", 0.0, True),
        ("<think>Black Footed Albatross</think> it is Black Footed Albatross", 0.0, True),  # no tag: wrong
        ("<answer>Laysan</answer> <answer>Black Footed Albatross</answer>", 1.0, False),  # greedy span holds it
    ],
)
def test_paper_closed_world(response, correct, no_answer):
    score = one("fine-r1", "closed", response)
    assert score.scores == {"accuracy": correct}
    assert score.no_answer is no_answer


def test_paper_closed_world_underscored_ground_truth():
    score = one("fine-r1", "closed", "<answer>Black Footed Albatross</answer>", gt="Black_Footed_Albatross",
                options=("Black_Footed_Albatross", "B", "C", "D"))
    assert score.scores["accuracy"] == 1.0


# ---- fine-r1, open ---------------------------------------------------------------------------
def test_paper_open_world_falls_back_to_the_whole_output():
    score = one("fine-r1", "open", "<think>a Black Footed Albatross</think> no final tag")
    assert score.scores["inclusion"] == 1.0 and score.no_answer
    assert score.scored_text.startswith("<think>")
    empty = one("fine-r1", "open", "<think>Black Footed Albatross</think><answer></answer>")
    assert empty.scores["inclusion"] == 1.0  # an empty answer also falls back to the whole output


def test_paper_open_world_keeps_underscores_in_the_text():
    assert one("fine-r1", "open", "<answer>Black_Footed_Albatross</answer>").scores["inclusion"] == 0.0
    assert one("fine-r1", "open", "<answer>a BLACK FOOTED ALBATROSS</answer>").scores["inclusion"] == 1.0


def test_paper_truncates_car_names_by_image_path():
    response = "<answer>Ferrari 458 Italia</answer>"
    gt = "Ferrari 458 Italia Convertible 2012"
    assert one("fine-r1", "open", response, gt=gt, options=CAR_OPTIONS, path=CAR).scores["inclusion"] == 1.0
    # the same answer on a path without "cars" needs the full name
    assert one("fine-r1", "open", response, gt=gt, options=CAR_OPTIONS, path="x/00002.jpg").scores["inclusion"] == 0.0
    # open_target is ignored by the paper protocol
    assert one("fine-r1", "open", response, gt=gt, options=CAR_OPTIONS, path="x/1.jpg",
               open_target="make_model").scores["inclusion"] == 0.0


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("fgvc_aircraft/data/images/0116175.jpg", "aircraft"),
        ("bird_200/images/004.Groove_billed_Ani/a.jpg", "object"),
        ("stanford-cars/cars_test/00002.jpg", "car"),
        ("dogs_120/Images/n02085936-Maltese_dog/a.jpg", "object"),
        ("flower102/jpg/image_05087.jpg", "flower"),
        ("oxford-pet/images/Abyssinian_201.jpg", "object"),
        ("CUB/birds/a.jpg", "bird"),
    ],
)
def test_paper_super_category_from_path(path, word):
    assert paper_super_category(path) == word


# ---- finebench, closed -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "correct", "no_answer"),
    [
        ("<answer>Black Footed Albatross</answer>", 1.0, False),
        ("<answer> black-footed  ALBATROSS. </answer>", 1.0, False),
        ("<answer>Black Footed Albatross or Laysan Albatross</answer>", 0.0, False),  # two options named
        ("<answer>Laysan</answer><answer>Black Footed Albatross</answer>", 1.0, False),  # the last block
        ("<answer>Black Footed Albatross</answer><answer>Laysan Albatross</answer>", 0.0, False),
        ("<think>Black Footed Albatross</think>", 0.0, True),
        ("<answer>  </answer>", 0.0, True),
        ("<answer>Ｂｌａｃｋ Ｆｏｏｔｅｄ Ａｌｂａｔｒｏｓｓ</answer>", 1.0, False),  # NFKC full-width
    ],
)
def test_corrected_closed_world(response, correct, no_answer):
    score = one("finebench", "closed", response)
    assert score.scores == {"accuracy": correct}
    assert score.no_answer is no_answer


def test_corrected_closed_world_options_inside_other_options():
    gt = "Ferrari 458 Italia Coupe 2012"
    options = ("Ferrari 458 Italia", gt, "Ferrari FF Coupe 2012", "Ferrari California Convertible 2012")
    assert one("finebench", "closed", f"<answer>{gt}</answer>", gt=gt, options=options).scores["accuracy"] == 1.0
    assert one("finebench", "closed", "<answer>Ferrari 458 Italia</answer>", gt=gt, options=options).scores["accuracy"] == 0.0
    assert picks_only(normalize_label("the ferrari 458 italia"), "Ferrari 458 Italia", options)


def test_the_paper_protocol_credits_what_the_corrected_one_does_not():
    response = "<answer>Black Footed Albatross or Laysan Albatross</answer>"
    assert one("fine-r1", "closed", response).scores["accuracy"] == 1.0
    assert one("finebench", "closed", response).scores["accuracy"] == 0.0


# ---- finebench, open -------------------------------------------------------------------------
def test_corrected_open_world_gives_no_credit_from_think_text():
    score = one("finebench", "open", "<think>Black Footed Albatross</think> final: none")
    assert score.scores["inclusion"] == 0.0 and score.no_answer and score.scored_text == ""


def test_corrected_open_world_matches_at_word_boundaries():
    assert one("finebench", "open", "<answer>It is a black-footed albatross!</answer>").scores["inclusion"] == 1.0
    assert one("finebench", "open", "<answer>Artic Tern</answer>", gt="Tern",
               options=("Tern", "a", "b", "c")).scores["inclusion"] == 1.0
    assert one("finebench", "open", "<answer>Eastern kingbird</answer>", gt="Tern",
               options=("Tern", "a", "b", "c")).scores["inclusion"] == 0.0


def test_corrected_open_world_car_target_comes_from_the_task():
    gt = "Ferrari 458 Italia Convertible 2012"
    kw = dict(gt=gt, options=CAR_OPTIONS, path="anywhere/1.jpg")
    assert one("finebench", "open", "<answer>Ferrari 458 Italia</answer>", open_target="make_model", **kw).scores["inclusion"] == 1.0
    assert one("finebench", "open", "<answer>Ferrari 458 Italia</answer>", open_target="full", **kw).scores["inclusion"] == 0.0


def test_yaml_extraction_override_is_honoured():
    response = "<answer>Laysan</answer> <answer>Black Footed Albatross</answer>"
    assert one("fine-r1", "closed", response, answer_extraction="last").answer == "Black Footed Albatross"
    assert one("finebench", "closed", response, answer_extraction="greedy").answer == "Laysan</answer> <answer>Black Footed Albatross"


# ---- failures, aggregation, validation --------------------------------------------------------
@pytest.mark.parametrize("protocol", ["fine-r1", "finebench"])
@pytest.mark.parametrize("world", ["closed", "open"])
def test_failed_generations_score_zero_and_are_not_no_answer(protocol, world):
    score = one(protocol, world, None)
    assert set(score.scores.values()) == {0.0} and not score.no_answer and score.answer is None


def test_aggregate_in_percent():
    ctx = ScoringContext("finebench", "closed", "bird")
    inputs = [ScoringInput(i, r, "Black Footed Albatross", BIRD_OPTIONS, BIRD)
              for i, r in enumerate(["<answer>Black Footed Albatross</answer>", "x", "<answer>Laysan Albatross</answer>",
                                     "<answer>black footed albatross</answer>"])]
    assert aggregate(score_samples(ctx, inputs, ["accuracy"]), ["accuracy"]) == {"accuracy": 50.0, "no_answer": 25.0}
    assert aggregate([], ["accuracy"]) == {"accuracy": 0.0, "no_answer": 0.0}


def test_validation_errors_name_the_problem():
    ctx = ScoringContext("fine-r1", "closed", "bird")
    with pytest.raises(ValueError, match="'inclusion' does not apply to closed-world"):
        score_samples(ctx, [], ["inclusion"])
    with pytest.raises(ValueError, match="needs a text encoder"):
        score_samples(ScoringContext("fine-r1", "open", "bird"), [], ["ss_relative"])
    with pytest.raises(ValueError, match="unknown protocol"):
        score_samples(ScoringContext("paper", "closed", "bird"), [], ["accuracy"])
    with pytest.raises(ValueError, match="did you mean 'accuracy'"):
        parse_metrics("acuracy")
    assert parse_metrics(" accuracy, inclusion ") == ["accuracy", "inclusion"]


# ---- SS_relative -----------------------------------------------------------------------------
def test_ss_relative_formula():
    assert ss_relative(0.9, 0.5) == pytest.approx(0.8)
    assert ss_relative(0.4, 0.5) == 0.0  # clamped at 0
    assert ss_relative(1.0, 0.2) == pytest.approx(1.0)
    assert ss_relative(0.7, 1.0) == 0.0  # no room above the super word


class TableEncoder:
    """Fixed unit vectors for known strings, so cosines are hand-computable."""

    name = "table"

    def __init__(self, table):
        self.table = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in table.items()}
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.table[t] for t in texts])


def test_ss_relative_on_hand_computed_cosines_and_one_batched_call():
    gt = "Black Footed Albatross"
    encoder = TableEncoder({gt: [1, 0], "object": [0.6, 0.8], "Laysan Albatross": [0.96, 0.28], "bird": [0.8, 0.6]})
    ctx = ScoringContext("fine-r1", "open", "bird")
    inputs = [ScoringInput(i, f"<answer>{r}</answer>", gt, BIRD_OPTIONS, BIRD) for i, r in enumerate([gt, "Laysan Albatross", gt])]
    scores = score_samples(ctx, inputs, ["inclusion", "ss_relative"], encoder)
    # s(super="object", gt) = 0.6 under the paper's path rule for birds
    assert scores[0].scores["ss_relative"] == pytest.approx(1.0)
    assert scores[1].scores["ss_relative"] == pytest.approx((0.96 - 0.6) / 0.4)
    assert len(encoder.calls) == 1 and sorted(encoder.calls[0]) == sorted({gt, "object", "Laysan Albatross"})
    fixed = score_samples(ScoringContext("finebench", "open", "bird"), inputs[1:2], ["ss_relative"], encoder)
    assert fixed[0].scores["ss_relative"] == pytest.approx((0.96 - 0.8) / 0.2)  # the dataset's word


def test_ss_relative_without_an_answer():
    encoder = TableEncoder({"Black Footed Albatross": [1, 0], "object": [0, 1], "no tag here": [0.6, 0.8]})
    paper = one("fine-r1", "open", "no tag here", metrics=("ss_relative",), encoder=encoder)
    assert paper.scores["ss_relative"] == pytest.approx(0.6)  # the whole output is embedded
    fixed = one("finebench", "open", "no tag here", metrics=("ss_relative",), encoder=encoder)
    assert fixed.scores["ss_relative"] == 0.0


def test_normalisation_helpers():
    assert normalize_label("Black-footed_Albatross ") == "black footed albatross"
    assert normalize_label("Ｆ/Ａ-18") == "f a 18"
    assert contains_phrase("a black footed albatross", "black footed albatross")
    assert not contains_phrase("eastern", "tern") and not contains_phrase("anything", "")


# ---- the real release ------------------------------------------------------------------------
RELEASE = Path(__file__).resolve().parents[2] / "shared" / "fine-r1-release" / "eval"


@pytest.mark.skipif(not RELEASE.is_dir(), reason="the Fine-R1 release is not next to the checkout")
def test_paper_scorer_over_every_release_item():
    rows = [json.loads(line) for path in sorted(RELEASE.glob("*.jsonl")) for line in path.read_text().splitlines()]
    assert len(rows) == 35566
    inputs = [ScoringInput(i, f"<answer>{r['ground_truth']}</answer>", r["ground_truth"], tuple(r["options"]), r["image_path"])
              for i, r in enumerate(rows)]
    for world, metric in (("closed", "accuracy"), ("open", "inclusion")):
        assert aggregate(score_samples(ScoringContext("fine-r1", world, "x"), inputs, [metric]), [metric])[metric] == 100.0
    wrong = [ScoringInput(i, f"<answer>{r['options'][1]}</answer>", r["ground_truth"], tuple(r["options"]), r["image_path"])
             for i, r in enumerate(rows)]
    # independently: the paper credits a wrong option whenever the ground truth is a substring of it
    expected = 100.0 * sum(r["ground_truth"].lower() in r["options"][1].lower() for r in rows) / len(rows)
    got = aggregate(score_samples(ScoringContext("fine-r1", "closed", "x"), wrong, ["accuracy"]), ["accuracy"])["accuracy"]
    assert got == pytest.approx(expected)
