"""Task YAMLs: the shipped index, verbatim paper prompts, includes and every config error."""

from __future__ import annotations

import pytest

from finebench.tasks.config import load_task_file
from finebench.tasks.index import TaskIndex
from finebench.util.errors import ConfigError, UnknownNameError

PAPER_CLOSED = (
    "Given the question: {question}, based on the options provided in {options}, output the thinking process in "
    "<think> </think> and final choice in <answer> </answer> tags. The response format should be: "
    "<think>...</think> <answer>choice</answer>."
)
PAPER_OPEN = (
    "Given the question: {question}. This is a fine-grained question. Output reasoning in <think></think> and "
    "the final answer in <answer></answer>."
)
DATASETS = {"cub": "bird", "cars": "car", "dogs": "dog", "flowers": "flower", "pets": "pet", "aircraft": "aircraft"}


@pytest.fixture(scope="module")
def index() -> TaskIndex:
    return TaskIndex()


def test_the_24_tasks_and_their_groups_exist(index):
    expected = {f"{d}_{w}_{s}" for d in (*DATASETS, "synth", "synth_hard") for w in ("open", "closed") for s in ("seen", "unseen")}
    assert set(index.tasks) == expected
    assert len(index.expand(["synth"])) == 4 and not set(index.expand(["synth"])) & set(index.expand(["fgvr"]))
    assert len(index.expand(["synth_hard"])) == 4 and not set(index.expand(["synth_hard"])) & set(index.expand(["synth"]))
    assert {"fgvr", "fgvr_open", "fgvr_closed", "fgvr_seen", "fgvr_unseen", *DATASETS} <= set(index.groups)
    assert len(index.expand(["fgvr"])) == 24
    assert len(index.expand(["fgvr_open", "fgvr_closed"])) == 24
    assert index.expand(["cub", "cub_open_seen"]) == index.expand(["cub"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_task_resolves_with_the_paper_settings(index, dataset):
    prefix = DATASETS[dataset]
    for world, prompt, metrics in (("closed", PAPER_CLOSED, ("accuracy",)), ("open", PAPER_OPEN, ("inclusion", "ss_relative"))):
        for split in ("seen", "unseen"):
            task = index.load(f"{dataset}_{world}_{split}")
            assert task.prompt == prompt
            assert task.metrics == metrics
            assert task.source == f"fine-r1/eval/{prefix}_{split}.jsonl"
            assert task.super_category == prefix
            assert task.generation == {"do_sample": False, "max_new_tokens": 2048}
            assert task.trials == 3 and task.protocol == "fine-r1"
            assert task.protocols["fine-r1"].option_order == "release"
            assert task.protocols["finebench"].option_order == "shuffled"
            assert task.open_target == ("make_model" if dataset == "cars" else "full")


def test_unknown_names_get_a_suggestion(index):
    with pytest.raises(UnknownNameError, match="did you mean 'cub_open_unseen'"):
        index.expand(["cub_open_unsen"])


def make_tasks(tmp_path, files: dict[str, str | bytes]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (tmp_path / name).write_bytes(text)
        else:
            (tmp_path / name).write_text(text)
    return tmp_path


BASE = """\
version: 1
trials: 1
seed: 0
protocol: fine-r1
generation: {do_sample: false, max_new_tokens: 8}
protocols:
  fine-r1: {option_order: release, answer_extraction: greedy}
  finebench: {option_order: shuffled, answer_extraction: last}
world: closed
prompt: "Q: {question} {options}"
metrics: [accuracy]
dataset: cub
super_category: bird
"""


def test_includes_merge_and_later_keys_win(tmp_path):
    root = make_tasks(tmp_path, {"_base.yaml": BASE, "t.yaml": "task: t\ninclude: _base.yaml\nsplit: seen\nsource: x.jsonl\n"
                                 "generation: {max_new_tokens: 4}\n"})
    task = load_task_file(root / "t.yaml")
    assert task.generation == {"do_sample": False, "max_new_tokens": 4}


@pytest.mark.parametrize(
    ("task_text", "message"),
    [
        ("task: t\ninclude: _base.yaml\nsplit: seen\nsource: x\npromt: typo\n", "unknown key(s) promt"),
        ("task: t\ninclude: _base.yaml\nsplit: sene\nsource: x\n", "key 'split' is 'sene'"),
        ("task: t\ninclude: _base.yaml\nsplit: seen\n", "missing required key 'source'"),
        ("task: t\ninclude: _base.yaml\nsplit: seen\nsource: x\ntrials: three\n", "key 'trials' must be int"),
        ("task: t\ninclude: _base.yaml\nsplit: seen\nsource: x\nmetrics: [inclusion]\n", "not a closed-world metric"),
        ("task: t\ninclude: _base.yaml\nsplit: seen\nsource: x\nprompt: 'Q: {image}'\n", "key 'prompt' may only use"),
        ("task: t\ninclude: _missing.yaml\n", "key 'include' names '_missing.yaml'"),
        ("task: t\ninclude: _base.yaml\nsplit: seen\nsource: x\nprotocols: {fine-r1: {option_order: random}}\n",
         "key 'protocols.fine-r1.option_order' is 'random'"),
        ("task: [t\n", "invalid YAML"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, task_text, message):
    root = make_tasks(tmp_path, {"_base.yaml": BASE, "t.yaml": task_text})
    with pytest.raises(ConfigError) as info:
        load_task_file(root / "t.yaml")
    assert str(root / "t.yaml") in str(info.value) or "t.yaml" in str(info.value)
    assert message in str(info.value)


def test_include_cycles_are_reported(tmp_path):
    root = make_tasks(tmp_path, {"_a.yaml": "include: _b.yaml\n", "_b.yaml": "include: _a.yaml\n", "t.yaml": "task: t\ninclude: _a.yaml\n"})
    with pytest.raises(ConfigError, match="include cycle"):
        load_task_file(root / "t.yaml")


def test_index_errors_name_the_file_and_disable_only_that_file(tmp_path):
    make_tasks(tmp_path, {"a.yaml": "task: same\n", "b.yaml": "task: same\n"})
    index = TaskIndex(tmp_path)
    assert list(index.tasks) == ["same"] and "already defined" in index.broken[tmp_path / "b.yaml"]
    make_tasks(tmp_path, {"b.yaml": "stuff: 1\n", "c.yaml": "task: ../../x\n", "d.yaml": b"task: \xff\xfe\n"})
    index = TaskIndex(tmp_path)
    assert "b.yaml: neither a task" in index.broken[tmp_path / "b.yaml"]
    assert "must be a safe name" in index.broken[tmp_path / "c.yaml"]
    assert "not UTF-8" in index.broken[tmp_path / "d.yaml"]
    with pytest.raises(UnknownNameError, match="broken task files: b.yaml, c.yaml, d.yaml"):
        index.expand(["other"])


def test_a_broken_task_file_does_not_stop_the_index(tmp_path):
    root = make_tasks(tmp_path, {"_base.yaml": BASE, "good.yaml": "task: good\ninclude: _base.yaml\nsplit: seen\nsource: x\n",
                                 "bad.yaml": "task: bad\ninclude: _base.yaml\nsplit: nope\nsource: x\n",
                                 "g.yaml": "group: g\ntask: [good, bad]\n"})
    index = TaskIndex(root)
    assert index.load("good").name == "good"
    assert index.expand(["g"]) == ["good", "bad"]
    with pytest.raises(ConfigError, match="bad.yaml"):
        index.load("bad")
