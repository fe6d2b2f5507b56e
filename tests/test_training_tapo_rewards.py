"""The TAPO reward reproduces the released cls_thinking reward (shared/README.md, item 9)."""

from __future__ import annotations

import pytest

from finebench.training.rewards import (
    accuracy_reward,
    accuracy_score,
    completion_text,
    format_reward,
    format_score,
    normalise_tags,
    score_response,
)

GOOD = "<think>white head, dark wings</think>\n<answer>Laysan Albatross</answer>"


def test_whitespace_around_angle_brackets_and_slashes_is_removed() -> None:
    spaced = "< think >a b< / think >  <answer> x / y </answer>"
    assert normalise_tags(spaced) == "<think>a b</think><answer>x/y</answer>"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (GOOD, 1.0),
        ("<think>\nmulti\nline\n</think><answer>A</answer>", 1.0),  # DOTALL
        ("< think >a</ think > < answer >b< /answer >", 1.0),  # larger Qwen models' spacing
        ("<think></think><answer></answer>", 1.0),
        ("<answer>A</answer>", 0.0),
        ("<think>a</think>", 0.0),
        ("I think <think>a</think><answer>b</answer>", 0.0),  # must match the whole response
        ("<think>a</think><answer>b</answer> done", 0.0),
        ("<answer>b</answer><think>a</think>", 0.0),
    ],
)
def test_format_is_a_full_match_of_think_then_answer(response: str, expected: float) -> None:
    assert format_score(response) == expected


@pytest.mark.parametrize(
    ("response", "ground_truth", "expected"),
    [
        (GOOD, "Laysan Albatross", 1.0),
        ("<answer>laysan albatross</answer>", "Laysan Albatross", 1.0),  # case-insensitive
        ("<answer>It is a Laysan Albatross, surely</answer>", "laysan albatross", 1.0),  # substring
        ("<answer>Albatross</answer>", "Laysan Albatross", 0.0),
        ("<answer>Sooty</answer> <answer>Laysan Albatross</answer>", "Laysan Albatross", 0.0),  # first span only
        ("Laysan Albatross", "Laysan Albatross", 0.0),  # no answer tag
        ("<answer></answer>", "Laysan Albatross", 0.0),
        ("<answer>F / A-18</answer>", "F/A-18", 1.0),  # the answer is normalised too
        ("<answer>Black_footed Albatross</answer>", "Black footed Albatross", 0.0),  # no underscore folding
    ],
)
def test_accuracy_is_ground_truth_inside_the_first_answer(response: str, ground_truth: str, expected: float) -> None:
    assert accuracy_score(response, ground_truth) == expected


def test_reward_is_point_nine_accuracy_plus_point_one_format() -> None:
    assert score_response(GOOD, "Laysan Albatross").reward == pytest.approx(1.0)
    assert score_response("<answer>Laysan Albatross</answer>", "Laysan Albatross").reward == pytest.approx(0.9)
    assert score_response("<think>a</think><answer>Sooty</answer>", "Laysan Albatross").reward == pytest.approx(0.1)
    weighted = score_response(GOOD, "Laysan Albatross", accuracy_weight=0.5, format_weight=0.25)
    assert (weighted.reward, weighted.accuracy, weighted.format) == (0.75, 1.0, 1.0)


def test_trl_reward_functions_read_plain_and_conversational_completions() -> None:
    conversational = [{"role": "assistant", "content": GOOD}]
    blocks = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    assert completion_text(conversational) == completion_text(blocks) == GOOD
    completions = [GOOD, conversational, "no tags"]
    answers = ["Laysan Albatross", "Sooty Albatross", "Laysan Albatross"]
    assert accuracy_reward(completions, answer=answers, trainer_state=None) == [1.0, 0.0, 0.0]
    assert format_reward(completions, answer=answers) == [1.0, 1.0, 0.0]
