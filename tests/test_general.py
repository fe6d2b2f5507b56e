"""General-capability hand-off to lmms-eval: the command line, result parsing and merging, and an
end-to-end run of the real lmms-eval CLI (dummy model) on a user-supplied ``imagewikiqa`` task."""

from __future__ import annotations

import json
import sys

import pytest

from finebench.interop.general import (
    BY_NAME,
    lmms_command,
    lmms_model_for,
    merge_general,
    parse_lmms_results,
    run_general,
    select_benchmarks,
)
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

HF = ModelCard(name="m", adapter="hf", model="Org/Model-7B", trust_remote_code=True)


def test_benchmark_selection_and_model_mapping():
    assert [b.lmms_task for b in select_benchmarks("mme, seedbench")] == ["mme", "seedbench"]
    with pytest.raises(FinebenchError, match="did you mean 'mmbench'"):
        select_benchmarks("mmbnech")
    assert lmms_model_for(HF) == ("huggingface", {"pretrained": "Org/Model-7B", "trust_remote_code": True})
    lmms_card = ModelCard(name="l", adapter="lmms", model="qwen2_5_vl", adapter_options={"model_args": {"pretrained": "X"}})
    assert lmms_model_for(lmms_card) == ("qwen2_5_vl", {"pretrained": "X"})
    own = ModelCard(name="o", adapter="hf", model="M", lmms={"model": "internvl2", "model_args": {"pretrained": "M"}})
    assert lmms_model_for(own) == ("internvl2", {"pretrained": "M"})
    with pytest.raises(ConfigError, match="key 'lmms' must be"):
        lmms_model_for(ModelCard(name="b", adapter="hf", model="M", lmms={"model": 3}))
    with pytest.raises(FinebenchError, match="no lmms-eval equivalent"):
        lmms_model_for(ModelCard(name="c", adapter="clip", model="C"))


def test_command_line(tmp_path):
    command = lmms_command(HF, select_benchmarks("mme,mmbench"), tmp_path, batch_size=4, device="cuda:1",
                           include_path=tmp_path / "tasks", limit=10)
    assert command[:3] == [sys.executable, "-m", "lmms_eval"]
    flags = dict(zip(command[3::2], command[4::2]))
    assert flags == {"--model": "huggingface", "--tasks": "mme,mmbench_en_dev", "--batch_size": "4",
                     "--output_path": str(tmp_path), "--include_path": str(tmp_path / "tasks"), "--limit": "10",
                     "--model_args": "pretrained=Org/Model-7B,trust_remote_code=True,device=cuda:1,device_map=cuda:1"}


def test_parsing_sums_mme_and_skips_stderr():
    data = {"results": {"mme": {"alias": "mme", "mme_perception_score,none": 1500.5, "mme_cognition_score,none": 300.0},
                        "seedbench": {"seed_image,none": 70.25, "seed_image_stderr,none": 0.4, "seed_all,none": 60.0}}}
    parsed = parse_lmms_results(data, select_benchmarks("mme,seedbench"), "r.json")
    assert parsed["mme"]["score"] == 1800.5 and parsed["mme"]["unit"] == "score"
    assert parsed["seedbench"]["score"] == 70.25 and "seed_image_stderr" not in parsed["seedbench"]["metrics"]
    with pytest.raises(FinebenchError, match="reported nothing for task 'mmbench_en_dev'"):
        parse_lmms_results(data, select_benchmarks("mmbench"), "r.json")
    with pytest.raises(FinebenchError, match="lacks metric"):
        parse_lmms_results({"results": {"seedbench": {"seed_all,none": 1.0}}}, select_benchmarks("seedbench"), "r.json")


def test_merge_keeps_fgvr_results_and_refuses_another_models_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"schema_version": 1, "model": {"name": "m"}, "results": {"cub_closed_seen": {}}}))
    merge_general(results, HF, {"mme": {"score": 1.0}}, limit=None)
    data = json.loads(results.read_text())
    assert data["results"] == {"cub_closed_seen": {}} and data["general"]["mme"]["score"] == 1.0
    with pytest.raises(FinebenchError, match="holds results of model 'm'"):
        merge_general(results, ModelCard(name="other", adapter="hf", model="x"), {}, limit=None)


IMAGEWIKIQA_TASK = """task: imagewikiqa
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 8
process_results: !function utils.process_results
metric_list:
  - metric: accuracy
    aggregation: mean
    higher_is_better: true
"""
UTILS = '''def doc_to_visual(doc):
    return []


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    return {"accuracy": float(results[0].strip() == doc["answer"])}
'''


@pytest.mark.slow
def test_end_to_end_through_the_lmms_eval_cli(tmp_path):
    pytest.importorskip("lmms_eval")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tmp_path / "wiki.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": "A" if i < 3 else "B"}) + "\n" for i in range(4)))
    (tasks / "imagewikiqa.yaml").write_text(IMAGEWIKIQA_TASK.format(data=data))
    (tasks / "utils.py").write_text(UTILS)
    card = ModelCard(name="dummy", adapter="lmms", model="dummy", adapter_options={"model_args": {"response": "A"}})
    out = tmp_path / "out"
    general = run_general(card, [BY_NAME["imagewikiqa"]], out, include_path=tasks)
    assert general["imagewikiqa"]["score"] == pytest.approx(0.75)
    stored = json.loads((out / "results.json").read_text())
    assert stored["general"]["imagewikiqa"]["score"] == pytest.approx(0.75)
    assert (out / stored["general"]["imagewikiqa"]["lmms_results"]).is_file()
    with pytest.raises(FinebenchError, match="lmms-eval failed"):
        run_general(card, [BY_NAME["imagewikiqa"]], tmp_path / "bad", include_path=tmp_path / "no-tasks")


def test_leaderboard_shows_general_scores_next_to_fgvr_averages(tmp_path):
    from finebench.cli.leaderboard import leaderboard_command
    from finebench.leaderboard.build import build_leaderboard
    from tests.test_leaderboard_support import full_run

    trained = full_run(tmp_path / "trained", "fine-r1-7b", 0.8)
    merge_general(trained / "results.json", ModelCard(name="fine-r1-7b", adapter="hf", model="x"),
                  {"mme": {"score": 2210.5}, "seedbench": {"score": 70.25}}, limit=None)
    base = tmp_path / "base"
    merge_general(base / "results.json", ModelCard(name="qwen2.5-vl-7b", adapter="hf", model="y"),
                  {"mme": {"score": 2300.0}}, limit=None)  # general only: no FGVR tasks run
    board = build_leaderboard([trained, base], [], with_reported=False, n_resamples=0, seed=0)
    rows = {row.model: row.values for row in board.general}
    closed_avg, open_avg = (next(r for t in board.tables if t.spec.number == n for r in t.rows if r.key == "fine-r1-7b").values["avg"]
                            for n in (1, 2))
    assert rows["fine-r1-7b"] == {"closed": closed_avg, "open": open_avg, "mme": 2210.5, "seedbench": 70.25}
    assert rows["qwen2.5-vl-7b"] == {"mme": 2300.0}
    files = leaderboard_command([trained, base], tmp_path / "board", resamples=0, plots=False)
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "## General capability (Appendix F)" in readme
    assert f"| Fine-R1-7B | {closed_avg:.2f} | {open_avg:.2f} | 2210.50 | – | 70.25 | – |" in readme
    assert "| Qwen2.5-VL-7B | – | – | 2300.00 | – | – | – |" in readme
    assert tmp_path / "board" / "general.csv" in files
    assert "<h2>General capability (Appendix F)</h2>" in (tmp_path / "board" / "index.html").read_text()


def test_bad_general_entries_are_named(tmp_path):
    from finebench.leaderboard.collect import load_run
    from tests.test_leaderboard_support import write_run

    run = write_run(tmp_path / "r", "m", {})
    data = json.loads((run / "results.json").read_text())
    data["general"] = {"mme": {"score": "high"}}
    (run / "results.json").write_text(json.dumps(data))
    with pytest.raises(FinebenchError, match="general.mme.score must be a number"):
        load_run(run)


def test_an_unreachable_hub_fails_general_benchmarks_in_one_line_before_any_model(monkeypatch):
    from finebench.interop.general import check_datasets_reachable
    from finebench.util import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda: "[Errno -2] Name or service not known")
    with pytest.raises(FinebenchError) as caught:
        check_datasets_reachable([BY_NAME["mme"], BY_NAME["imagewikiqa"]])
    assert str(caught.value).startswith("--general mme: lmms-eval downloads") and "\n" not in str(caught.value)
    assert "HF_HUB_OFFLINE=1" in str(caught.value)
    check_datasets_reachable([BY_NAME["imagewikiqa"]])  # the user's own task folder: no Hub needed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_datasets_reachable([BY_NAME["mme"]])  # cached datasets promised: lmms-eval may run
