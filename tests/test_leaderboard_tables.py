"""Paper-layout tables: values, averages, best/second marks, missing cells, reported rows, and the
refusal to mix results that are not comparable."""

from __future__ import annotations

import pytest

from finebench.leaderboard.collect import MixedResultsError, load_runs, reported_models
from finebench.leaderboard.render_md import markdown_cell, markdown_table
from finebench.leaderboard.tables import COLUMNS, build_tables, rank_marks
from finebench.models.cards import card_from_mapping
from tests.test_leaderboard_support import constant, full_run, write_run


def table(tables, number, protocol="fine-r1"):
    return next(t for t in tables if t.spec.number == number and t.setting.protocol == protocol)


def row(tbl, key):
    return next(r for r in tbl.rows if r.key == key)


def test_columns_mirror_the_paper_layout():
    labels = [(c.split, c.label) for c in COLUMNS]
    datasets = ["Air.", "Bird", "Car", "Dog", "Flower", "Pet", "Avg."]
    assert labels == [("seen", x) for x in datasets] + [("unseen", x) for x in datasets] + [(None, "Avg.")]
    assert COLUMNS[-1].members == ("seen:avg", "unseen:avg")


def test_table_values_and_averages(tmp_path):
    runs = load_runs([full_run(tmp_path / "a", "model-a", 0.5, n=40), full_run(tmp_path / "b", "model-b", 0.7, n=40)])
    tables = build_tables(runs, [], {"model-a": "Model A"})
    assert [t.spec.number for t in tables] == [1, 2, 6]
    t1 = table(tables, 1)
    a = row(t1, "model-a")
    assert a.label == "Model A" and row(t1, "model-b").label == "model-b"
    # constant(40, 0.5 + 0.025 * i) for Air., Bird, ... -> 50.0, 52.5, 55.0, 57.5, 60.0, 62.5
    assert [a.values[f"seen:{d}"] for d in ("aircraft", "cub", "cars", "dogs", "flowers", "pets")] == pytest.approx(
        [50.0, 52.5, 55.0, 57.5, 60.0, 62.5])
    assert a.values["seen:avg"] == pytest.approx(56.25)
    assert a.values["avg"] == pytest.approx((a.values["seen:avg"] + a.values["unseen:avg"]) / 2)
    assert row(table(tables, 2), "model-a").values["seen:cub"] == pytest.approx((0.5 + 0.425 / 4) * 100)
    assert row(table(tables, 6), "model-a").values["seen:cub"] == pytest.approx(42.5)


def test_rank_marks_dense_with_ties_at_display_precision():
    assert rank_marks({"a": 90.0, "b": 90.0, "c": 80.0, "d": 70.0}) == {"a": "best", "b": "best", "c": "second"}
    assert rank_marks({"a": 80.001, "b": 80.004, "c": 10.0}) == {"a": "best", "b": "best", "c": "second"}
    assert rank_marks({"a": 50.0, "b": 50.0}) == {"a": "best", "b": "best"}
    assert rank_marks({"a": 50.0}) == {}


def test_best_bold_second_underlined_in_markdown(tmp_path):
    runs = load_runs([full_run(tmp_path / name, name, level, n=40) for name, level in
                      (("low", 0.3), ("high", 0.7), ("high-twin", 0.7), ("mid", 0.5))])
    t1 = table(build_tables(runs, [], {}), 1)
    assert row(t1, "high").marks["avg"] == row(t1, "high-twin").marks["avg"] == "best"
    assert row(t1, "mid").marks["avg"] == "second" and "avg" not in row(t1, "low").marks
    assert markdown_cell(row(t1, "high"), "seen:cub") == "**72.50**"
    assert markdown_cell(row(t1, "mid"), "seen:cub") == "<u>52.50</u>"
    assert markdown_cell(row(t1, "low"), "seen:cub") == "32.50"


def test_missing_cells_are_dashes_and_incomplete_averages_are_not_computed(tmp_path):
    full = full_run(tmp_path / "full", "full", 0.5, n=20)
    partial = write_run(tmp_path / "part", "part", {"cub_closed_seen": {"accuracy": constant(20, 0.9)}})
    t1 = table(build_tables(load_runs([full, partial]), [], {}), 1)
    part = row(t1, "part")
    assert set(part.values) == {"seen:cub"}
    assert markdown_cell(part, "seen:aircraft") == "–" and markdown_cell(part, "avg") == "–"
    line = next(line for line in markdown_table(t1) if line.startswith("| part |"))
    assert line.count("–") == len(COLUMNS) - 1


def test_protocols_and_option_orders_get_separate_tables(tmp_path):
    paper = full_run(tmp_path / "paper", "m", 0.6, n=20)
    fixed = full_run(tmp_path / "fixed", "m", 0.4, n=20, protocol="finebench", option_order="shuffled")
    tables = build_tables(load_runs([paper, fixed]), [], {})
    assert {(t.setting.protocol, t.setting.option_order) for t in tables} == {("fine-r1", "release"), ("finebench", "shuffled")}
    assert row(table(tables, 1, "fine-r1"), "m").values["seen:aircraft"] == 60.0
    assert row(table(tables, 1, "finebench"), "m").values["seen:aircraft"] == 40.0
    assert tables[0].setting.is_paper  # the paper's protocol comes first


def test_mismatched_task_versions_in_one_column_are_refused_naming_both_files(tmp_path):
    a = write_run(tmp_path / "a", "a", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}}, version=1)
    b = write_run(tmp_path / "b", "b", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}}, version=2)
    with pytest.raises(MixedResultsError) as info:
        build_tables(load_runs([a, b]), [], {})
    assert str(a / "results.json") in str(info.value) and str(b / "results.json") in str(info.value)
    assert "version 1 vs 2" in str(info.value)
    c = write_run(tmp_path / "c", "c", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}}, items_sha256="other")
    with pytest.raises(MixedResultsError, match="items_sha256"):
        build_tables(load_runs([a, c]), [], {})


def test_two_results_of_one_model_for_one_cell_are_refused_but_disjoint_runs_merge(tmp_path):
    closed = write_run(tmp_path / "closed", "m", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}})
    opened = write_run(tmp_path / "open", "m", {"cub_open_seen": {"inclusion": constant(10, 0.2), "ss_relative": constant(10, 0.3)}})
    tables = build_tables(load_runs([closed, opened]), [], {})
    assert row(table(tables, 1), "m").values == {"seen:cub": 50.0} and row(table(tables, 6), "m").values == {"seen:cub": 20.0}
    again = write_run(tmp_path / "again", "m", {"cub_closed_seen": {"accuracy": constant(10, 0.7)}})
    with pytest.raises(MixedResultsError, match="two results"):
        build_tables(load_runs([closed, again]), [], {})


def test_reported_rows_are_labelled_grouped_and_never_marked(tmp_path):
    card = card_from_mapping({
        "name": "m-a", "adapter": "hf", "model": "org/a", "family": "reasoning-mllm", "display_name": "Model A",
        "reported": {"accuracy": {"cub_closed_seen": 99.0, "aircraft_closed_seen": 98.5}},
    }, "tmp/m-a.yaml")
    clip = card_from_mapping({"name": "clip-x", "adapter": "clip", "model": "x", "family": "clip",
                              "reported": {"accuracy": {"cub_closed_seen": 10.0}}}, "tmp/clip-x.yaml")
    runs = load_runs([
        full_run(tmp_path / "a", "m-a", 0.5, n=20, family="reasoning-mllm"),
        full_run(tmp_path / "b", "m-b", 0.6, n=20, family="general-mllm"),
        full_run(tmp_path / "c", "m-c", 0.4, n=20, family="reasoning-mllm"),
        full_run(tmp_path / "f", "m-a", 0.5, n=20, family="reasoning-mllm", protocol="finebench", option_order="shuffled"),
    ])
    tables = build_tables(runs, reported_models([card, clip]), {"m-a": "Model A"})
    t1 = table(tables, 1)
    assert [r.key for r in t1.rows] == ["clip-x (reported)", "m-b", "m-a", "m-a (reported)", "m-c"]
    assert [g for g, _ in t1.groups()] == ["CLIP Models", "General MLLMs", "Reasoning MLLMs"]
    reported = row(t1, "m-a (reported)")
    assert reported.label == "Model A (reported)" and reported.reported
    assert reported.values == {"seen:cub": 99.0, "seen:aircraft": 98.5} and reported.marks == {}
    assert row(t1, "m-b").marks["seen:cub"] == "best"  # 99.0 reported does not take the mark
    assert all(not r.reported for t in tables if not t.setting.is_paper for r in t.rows)
    assert not any(r.reported for r in table(tables, 2).rows)  # no open-world numbers reported


def test_reported_numbers_for_unknown_tasks_are_config_errors():
    from finebench.util.errors import ConfigError

    card = card_from_mapping({"name": "x", "adapter": "hf", "model": "x", "reported": {"accuracy": {"cub_closed_sen": 1.0}}}, "x.yaml")
    with pytest.raises(ConfigError, match="cub_closed_sen"):
        reported_models([card])
    card = card_from_mapping({"name": "x", "adapter": "hf", "model": "x", "reported": {"inclusion": {"cub_closed_seen": 1.0}}}, "x.yaml")
    with pytest.raises(ConfigError, match="closed-world tasks report accuracy, not 'inclusion'"):
        reported_models([card])


def test_limited_runs_are_flagged_and_not_ranked_against_full_runs(tmp_path):
    limited = write_run(tmp_path / "l", "l", {"cub_closed_seen": {"accuracy": constant(10, 0.9)}}, n_items_total=3483)
    full = [full_run(tmp_path / name, name, level, n=10) for name, level in (("a", 0.5), ("b", 0.3))]
    t1 = table(build_tables(load_runs([limited, *full]), [], {}), 1)
    assert markdown_cell(row(t1, "l"), "seen:cub") == "90.00†"
    assert row(t1, "a").marks["seen:cub"] == "best" and row(t1, "b").marks["seen:cub"] == "second"


def test_other_datasets_get_their_own_tables_never_a_paper_column(tmp_path):
    synth = {"synth_closed_seen": {"accuracy": constant(20, 0.75)}, "synth_closed_unseen": {"accuracy": constant(20, 0.4)},
             "synth_open_seen": {"inclusion": constant(20, 0.4)}}
    runs = load_runs([full_run(tmp_path / "a", "model-a", 0.5, n=20),
                      write_run(tmp_path / "s", "model-a-synth", synth, family="trained")])
    tables = build_tables(runs, [], {})
    assert [(t.spec.number, t.benchmark) for t in tables] == [(1, ""), (2, ""), (6, ""), (1, "synth"), (6, "synth")]
    paper, closed, open_ = tables[0], tables[3], tables[4]
    assert [r.key for r in paper.rows] == ["model-a"]  # the synthetic run is not in the paper's table
    assert [(c.key, c.label) for c in closed.columns] == [("seen:synth", "synth"), ("unseen:synth", "synth"),
                                                          ("avg", "Avg.")]
    [synth_row] = closed.rows
    assert synth_row.values == pytest.approx({"seen:synth": 75.0, "unseen:synth": 40.0, "avg": 57.5})
    assert "avg" not in open_.rows[0].values  # no unseen cell, no average
    assert closed.title == "synth: Closed-world accuracy (%)" and closed.id == "table1-fine-r1-release-synth"
    assert paper.title == "Table 1: Closed-world accuracy (%)"
    assert markdown_table(closed)[0] == "| Models | # | n | synth<br>seen | synth<br>unseen | Avg.<br>overall |"
