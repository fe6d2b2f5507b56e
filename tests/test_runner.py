"""The evaluation loop with fake adapters: scoring wiring, caching, failures, invariances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from finebench.util.errors import FinebenchError
from tests.fakes import CharGramEncoder, OptionScorer, ScriptedAdapter

CARD = ModelCard(name="fake", adapter="fake", model="fake", family="test")
TASKS = ("cub_closed_seen", "cars_closed_unseen", "pets_open_seen")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_demo_data_root(tmp_path_factory.mktemp("demo"), items_per_file=6)


def evaluate(data_root: Path, out: Path, adapter=None, **overrides):
    config = RunConfig(**{"tasks": TASKS, "data_root": data_root, "output_path": out, **overrides})
    adapter = adapter or ScriptedAdapter()
    results = Evaluator(config, adapter, CARD, encoder_loader=lambda spec: CharGramEncoder()).run()
    return results, adapter


def metrics_only(results: dict) -> dict:
    return {t: {k: v for k, v in r.items()} for t, r in results["results"].items()}


def test_first_option_is_always_right_under_the_paper_protocol(data_root, tmp_path):
    results, _ = evaluate(data_root, tmp_path)
    assert results["results"]["cub_closed_seen"]["accuracy"] == 100.0
    assert results["results"]["cars_closed_unseen"]["accuracy"] == 100.0
    # open world: the answer (ground truth) includes the label; SS_relative of an exact answer is 1
    assert results["results"]["pets_open_seen"]["inclusion"] == 100.0
    assert results["results"]["pets_open_seen"]["ss_relative"] == pytest.approx(100.0)


def test_shuffled_options_expose_the_position_bias(data_root, tmp_path):
    results, _ = evaluate(data_root, tmp_path, protocol="finebench", tasks=("cub_closed_seen",), trials=3)
    r = results["results"]["cub_closed_seen"]
    assert r["accuracy"] < 100.0
    assert len(r["accuracy_trials"]) == 3
    rows = [json.loads(line) for line in (tmp_path / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert all(r["option_seed"] is not None for r in rows)
    assert any(row["options"][0] != row["target"] for row in rows)


def test_results_and_samples_follow_the_documented_schema(data_root, tmp_path):
    results, _ = evaluate(data_root, tmp_path, trials=2)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["schema_version"] == 1
    for key in ("model", "config", "results", "groups", "tasks", "environment", "created"):
        assert key in on_disk
    task = on_disk["results"]["cub_closed_seen"]
    assert {"accuracy", "accuracy_std", "accuracy_trials", "no_answer", "n", "n_samples", "n_errors"} <= set(task)
    assert task["n"] == 6 and task["n_samples"] == 12 and task["n_errors"] == 0
    meta = on_disk["tasks"]["cub_closed_seen"]
    assert meta["seeds"] == [1234, 1235] and meta["protocol"] == "fine-r1" and len(meta["items_sha256"]) == 64
    rows = [json.loads(line) for line in (tmp_path / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert set(rows[0]) == {"doc_id", "trial", "prompt_hash", "image_path", "options", "option_seed", "target",
                            "response", "answer", "no_answer", "scores", "error", "demonstrations"}
    assert rows[0]["scores"] == {"accuracy": 1.0}


def test_groups_are_macro_averages_of_finished_tasks(data_root, tmp_path):
    tasks = ("cub_closed_seen", "cub_closed_unseen", "cub_open_seen", "cub_open_unseen")

    def wrong_on_unseen(request):
        return "<answer>nothing</answer>" if request.task.endswith("unseen") else f"<answer>{request.options[0]}</answer>"

    results, _ = evaluate(data_root, tmp_path, tasks=("cub",), adapter=ScriptedAdapter(wrong_on_unseen))
    assert list(results["results"]) == list(tasks)
    group = results["groups"]["cub"]
    assert group["n_tasks"] == 4
    assert group["accuracy"] == pytest.approx(50.0)
    assert group["inclusion"] == pytest.approx(50.0)
    assert "fgvr" not in results["groups"]  # only groups whose tasks all ran


def test_greedy_trials_share_one_generation_but_sampled_trials_do_not(data_root, tmp_path):
    _, greedy = evaluate(data_root, tmp_path / "g", tasks=("cub_closed_seen",), trials=3)
    assert greedy.n_generated == 6
    sampled_card = ModelCard(name="s", adapter="fake", model="fake", generation={"do_sample": True})
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "s", trials=3)
    adapter = ScriptedAdapter()
    Evaluator(config, adapter, sampled_card).run()
    assert adapter.n_generated == 18
    seeds = {json.loads(l)["trial"] for l in (tmp_path / "s" / "samples_cub_closed_seen.jsonl").read_text().splitlines()}
    assert seeds == {0, 1, 2}


@pytest.mark.parametrize("overrides", [{"batch_size": 1}, {"batch_size": 8}, {"batch_size": 3, "request_order": "shuffled"},
                                       {"batch_size": 8, "request_order": "doc"}])
def test_metrics_do_not_depend_on_batch_size_or_request_order(data_root, tmp_path, overrides):
    reference, _ = evaluate(data_root, tmp_path / "ref", protocol="finebench", batch_size=5)
    results, adapter = evaluate(data_root, tmp_path / "run", protocol="finebench", **overrides)
    assert metrics_only(results) == metrics_only(reference)
    assert max(len(c) for c in adapter.calls) <= overrides["batch_size"]
    for task in TASKS:
        assert (tmp_path / "run" / f"samples_{task}.jsonl").read_text() == (tmp_path / "ref" / f"samples_{task}.jsonl").read_text()


def test_rerun_is_served_from_the_cache(data_root, tmp_path):
    first, adapter = evaluate(data_root, tmp_path)
    assert adapter.n_generated > 0
    second, again = evaluate(data_root, tmp_path)
    assert again.n_generated == 0
    assert metrics_only(first) == metrics_only(second)


def test_partial_cache_generates_only_what_is_missing(data_root, tmp_path):
    evaluate(data_root, tmp_path, tasks=("cub_closed_seen",), limit=3)
    _, adapter = evaluate(data_root, tmp_path, tasks=("cub_closed_seen",))
    assert adapter.n_generated == 3


def test_changed_model_or_prompt_is_never_served_a_stale_answer(data_root, tmp_path):
    evaluate(data_root, tmp_path, tasks=("cub_closed_seen",))
    # another model writes its own results folder (a folder holds one model) but shares the cache
    _, other_model = evaluate(data_root, tmp_path / "other", tasks=("cub_closed_seen",), adapter=ScriptedAdapter(name="other"),
                              cache_path=tmp_path / "responses.sqlite")
    assert other_model.n_generated == 6
    _, other_protocol = evaluate(data_root, tmp_path, tasks=("cub_closed_seen",), protocol="finebench", trials=1)
    assert other_protocol.n_generated == 6


def test_limit_takes_the_same_seeded_subset_every_time(data_root, tmp_path):
    evaluate(data_root, tmp_path / "a", tasks=("cub_closed_seen",), limit=4, seed=7)
    evaluate(data_root, tmp_path / "b", tasks=("cub_closed_seen",), limit=4, seed=7)
    a = (tmp_path / "a" / "samples_cub_closed_seen.jsonl").read_text()
    assert a == (tmp_path / "b" / "samples_cub_closed_seen.jsonl").read_text()
    assert len({json.loads(l)["doc_id"] for l in a.splitlines()}) == 4


def test_missing_and_corrupt_images_are_logged_counted_and_scored_wrong(tmp_path):
    root = write_demo_data_root(tmp_path / "data", items_per_file=4)
    items = [json.loads(l) for l in (root / "fine-r1/eval/bird_seen.jsonl").read_text().splitlines()]
    (root / items[0]["image_path"]).unlink()
    (root / items[1]["image_path"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    results, adapter = evaluate(root, tmp_path / "out", tasks=("cub_closed_seen",), trials=1)
    r = results["results"]["cub_closed_seen"]
    assert r["n_errors"] == 2 and r["n"] == 4
    assert r["accuracy"] == 50.0
    rows = [json.loads(l) for l in (tmp_path / "out" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert rows[0]["error"].startswith("image not found") and rows[0]["response"] is None
    assert rows[1]["error"].startswith("cannot decode image")
    assert adapter.n_generated == 2
    # errors are not cached: once the images are back, a re-run retries exactly those two
    from finebench.data.demo import demo_image

    for row in rows[:2]:
        demo_image(0, row["doc_id"]).save(root / row["image_path"])
    _, retry = evaluate(root, tmp_path / "out", tasks=("cub_closed_seen",), trials=1)
    assert retry.n_generated == 2


def test_a_failing_sample_is_isolated_from_its_batch(data_root, tmp_path):
    adapter = ScriptedAdapter(fail_on=lambda r: r.doc_id == 2)
    results, _ = evaluate(data_root, tmp_path, tasks=("cub_closed_seen",), adapter=adapter, trials=1, batch_size=6)
    r = results["results"]["cub_closed_seen"]
    assert r["n_errors"] == 1
    assert r["accuracy"] == pytest.approx(500 / 6)
    rows = [json.loads(l) for l in (tmp_path / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert "scripted failure" in rows[2]["error"]


def test_untagged_and_empty_outputs_are_scored_per_protocol(data_root, tmp_path):
    adapter = ScriptedAdapter(lambda r: "" if r.doc_id % 2 else f"it is the {r.options[0]}")
    paper, _ = evaluate(data_root, tmp_path / "p", tasks=("cub_open_seen",), adapter=adapter, trials=1)
    fixed, _ = evaluate(data_root, tmp_path / "f", tasks=("cub_open_seen",), adapter=ScriptedAdapter(adapter.rule),
                        trials=1, protocol="finebench")
    # paper protocol falls back to the whole output in open world; the corrected one gives no credit
    assert paper["results"]["cub_open_seen"]["inclusion"] == 50.0
    assert fixed["results"]["cub_open_seen"]["inclusion"] == 0.0
    assert paper["results"]["cub_open_seen"]["no_answer"] == 100.0


def test_contrastive_adapters_answer_closed_tasks_and_refuse_open_ones(data_root, tmp_path):
    results, _ = evaluate(data_root, tmp_path, tasks=("cars_closed_seen",), adapter=OptionScorer(), trials=1)
    rows = [json.loads(l) for l in (tmp_path / "samples_cars_closed_seen.jsonl").read_text().splitlines()]
    assert all(row["answer"] == max(row["options"], key=len) for row in rows)
    assert 0.0 <= results["results"]["cars_closed_seen"]["accuracy"] <= 100.0
    with pytest.raises(FinebenchError, match="open-world"):
        evaluate(data_root, tmp_path / "o", tasks=("cars_open_seen",), adapter=OptionScorer())


def test_missing_item_file_names_the_command_that_writes_it(tmp_path):
    with pytest.raises(FinebenchError, match=r"`finebench data fetch fine-r1 --data-root .*import-fine-r1"):
        evaluate(tmp_path, tmp_path / "out", tasks=("cub_closed_seen",))
    with pytest.raises(FinebenchError, match=r"synth_seen.jsonl not found; .*`finebench data synth --data-root ") as caught:
        evaluate(tmp_path, tmp_path / "out", tasks=("synth_closed_seen",))
    assert "import-fine-r1" not in str(caught.value)


def test_results_flag_generated_items_and_record_the_display_name(data_root, tmp_path):
    from dataclasses import replace

    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "a")
    results = Evaluator(config, ScriptedAdapter(), replace(CARD, display_name="my run")).run()
    assert results["tasks"]["cub_closed_seen"]["generated"] == "demo"
    assert results["model"]["display_name"] == "my run"
    real = tmp_path / "real"
    (real / "fine-r1" / "eval").mkdir(parents=True)
    (real / "fine-r1" / "eval" / "bird_seen.jsonl").write_bytes((data_root / "fine-r1" / "eval" / "bird_seen.jsonl").read_bytes())
    for path in (data_root / "bird_200").rglob("*.jpg"):
        target = real / path.relative_to(data_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    config = RunConfig(tasks=("cub_closed_seen",), data_root=real, output_path=tmp_path / "b")
    results = Evaluator(config, ScriptedAdapter(), CARD).run()
    assert results["tasks"]["cub_closed_seen"]["generated"] is None  # same bytes, but no marker: not flagged
    assert results["model"]["display_name"] is None


def test_metric_subset_skips_the_encoder(data_root, tmp_path):
    config = RunConfig(tasks=("pets_open_seen",), data_root=data_root, output_path=tmp_path, metrics=("inclusion",))

    def no_encoder(spec):
        raise AssertionError("the encoder must not be loaded")

    results = Evaluator(config, ScriptedAdapter(), CARD, encoder_loader=no_encoder).run()
    assert "ss_relative" not in results["results"]["pets_open_seen"]
    assert results["results"]["pets_open_seen"]["inclusion"] == 100.0


def test_circular_option_order_puts_the_ground_truth_in_every_position(data_root, tmp_path):
    results, adapter = evaluate(data_root, tmp_path, tasks=("cub_closed_seen",), option_order="circular")
    rows = [json.loads(l) for l in (tmp_path / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and adapter.n_generated == 24
    for row in rows:
        assert row["options"].index(row["target"]) == row["trial"]
    by_doc = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row["options"])
    for options in by_doc.values():  # rotations of one another
        assert all(sorted(o) == sorted(options[0]) for o in options)
        assert options[1] == [options[0][-1], *options[0][:-1]]
    r = results["results"]["cub_closed_seen"]
    assert r["accuracy_trials"] == [100.0, 0.0, 0.0, 0.0]  # "first option" model: right only at position 0
    assert results["tasks"]["cub_closed_seen"]["option_order"] == "circular"
    with pytest.raises(FinebenchError, match="--trials 4"):
        evaluate(data_root, tmp_path / "x", tasks=("cub_closed_seen",), option_order="circular", trials=3)
    with pytest.raises(FinebenchError, match="closed-world"):
        evaluate(data_root, tmp_path / "y", tasks=("cub_open_seen",), option_order="circular")


def test_zero_shot_cot_appends_the_phrase_to_closed_world_prompts_only(data_root, tmp_path):
    seen: dict[str, str] = {}

    def record(request):
        seen[request.task] = request.prompt
        return f"<answer>{request.options[0]}</answer>"

    results, _ = evaluate(data_root, tmp_path, adapter=ScriptedAdapter(record), strategy="zero-shot-cot",
                          tasks=("cub_closed_seen", "cub_open_seen"))
    assert seen["cub_closed_seen"].endswith("<answer>choice</answer>. Let's think step by step.")
    assert "step by step" not in seen["cub_open_seen"]
    assert results["tasks"]["cub_closed_seen"]["strategy"] == "zero-shot-cot"
    assert results["tasks"]["cub_open_seen"]["strategy"] == "direct"
    assert results["config"]["strategy"] == "zero-shot-cot"
    # a different prompt is a different request: the direct run's cache entries are not reused
    _, direct = evaluate(data_root, tmp_path, tasks=("cub_closed_seen",))
    assert direct.n_generated == 6


def test_unknown_strategy_and_icl_without_a_pool_are_refused(data_root, tmp_path):
    with pytest.raises(FinebenchError, match="unknown strategy"):
        evaluate(data_root, tmp_path, strategy="few-shot")
    with pytest.raises(FinebenchError, match="--icl-pool"):
        evaluate(data_root, tmp_path, strategy="icl")


def test_prompt_ensemble_is_refused_for_generative_models(data_root, tmp_path):
    with pytest.raises(FinebenchError, match="cannot run strategy 'prompt-ensemble'"):
        evaluate(data_root, tmp_path, strategy="prompt-ensemble")


def test_label_set_shows_every_class_of_the_task_whatever_the_limit(data_root, tmp_path):
    seen: list[tuple[str, ...]] = []

    def record(request):
        seen.append(request.options)
        return f"<answer>{request.options[0]}</answer>"

    evaluate(data_root, tmp_path / "all", adapter=ScriptedAdapter(record), tasks=("cub_closed_seen",), trials=1,
             option_order="label-set")
    rows = [json.loads(l) for l in (tmp_path / "all" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    classes = tuple(sorted({r["target"] for r in rows} | {o for r in rows for o in r["options"]}))
    assert len(classes) >= 4 and all(options == classes for options in seen)
    assert all(tuple(r["options"]) == classes for r in rows)  # recorded as shown
    seen.clear()
    evaluate(data_root, tmp_path / "two", adapter=ScriptedAdapter(record), tasks=("cub_closed_seen",), trials=1,
             option_order="label-set", limit=2)
    assert len(seen) == 2 and all(options == classes for options in seen)


def test_metrics_a_subset_leaves_out_are_named():
    from finebench.evaluation.plan import metrics_left_out
    from finebench.tasks.index import TaskIndex

    index = TaskIndex()
    tasks = [index.load(name) for name in ("cub_closed_seen", "cub_open_seen", "cars_open_unseen")]
    assert metrics_left_out(tasks, ("accuracy", "ss_relative")) == {"inclusion": ["cub_open_seen", "cars_open_unseen"]}
    assert metrics_left_out(tasks, None) == {}
