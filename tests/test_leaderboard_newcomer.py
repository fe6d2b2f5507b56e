"""What a newcomer's first leaderboard must get right: the demo's random model kept out of the
paper's tables (unless asked), n, rank, display names and run config visible, SS_relative from
another encoder labelled, sane plots, a terminal summary, and a page whose averages are on screen
at 1280 px (checked in headless Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from finebench.leaderboard.build import build_leaderboard
from finebench.leaderboard.collect import load_run, load_runs
from finebench.leaderboard.plots import bars_figure, chance_level, scatter_figure
from finebench.leaderboard.render_md import leaderboard_markdown, summary_text
from finebench.leaderboard.tables import build_tables
from finebench.util.errors import FinebenchError
from finebench.util.generated import MARKER, generated_kind, mark_generated
from tests.test_leaderboard_outputs import CHROMIUM, write_card
from tests.test_leaderboard_support import constant, full_run, write_run

SIGLIP = "google/siglip-base-patch16-256"


def table(tables, number, benchmark=""):
    return next(t for t in tables if t.spec.number == number and t.benchmark == benchmark)


def test_generated_marker_names_the_kind_only_for_the_bytes_it_recorded(tmp_path):
    items = tmp_path / "eval" / "bird_seen.jsonl"
    items.parent.mkdir()
    items.write_text('{"x": 1}\n')
    assert generated_kind(items) is None
    mark_generated("demo", [items])
    assert generated_kind(items) == "demo" and (items.parent / MARKER).is_file()
    items.write_text('{"x": 2}\n')  # a real release copied over the demo's folder
    assert generated_kind(items) is None
    with pytest.raises(ValueError):
        mark_generated("real", [items])


def test_demo_runs_stay_out_of_the_paper_tables_unless_asked(tmp_path):
    real = full_run(tmp_path / "real", "model-a", 0.6, n=20)
    demo = full_run(tmp_path / "demo", "tiny-qwen2.5-vl", 0.0, n=2, family="test", generated="demo")
    board = build_leaderboard([real, demo], [], with_reported=False, n_resamples=0, seed=0)
    assert all([r.key for r in t.rows] == ["model-a"] for t in board.tables)
    assert any("--include-demo" in note and str(demo / "results.json") in note for note in board.notes)
    shown = build_leaderboard([real, demo], [], with_reported=False, n_resamples=0, seed=0, include_generated=True)
    labels = [r.label for r in table(shown.tables, 1).rows]
    assert labels == ["model-a", "tiny-qwen2.5-vl (demo)"] and not shown.notes
    text = leaderboard_markdown(board, [])
    assert "## Runs" in text and "| tiny-qwen2.5-vl | tiny-qwen2.5-vl | demo, n=2 | 24 |" in text


def test_synthetic_runs_keep_their_own_tables(tmp_path):
    synth = {"synth_closed_seen": {"accuracy": constant(20, 0.75)}, "synth_closed_unseen": {"accuracy": constant(20, 0.4)}}
    run = write_run(tmp_path / "s", "hf:checkpoints/synth-sft", synth, family="trained", generated="synthetic",
                    display_name="synth SFT")
    tables = build_tables(load_runs([run]), [], {})
    [synth_table] = tables
    assert synth_table.benchmark == "synth" and [r.label for r in synth_table.rows] == ["synth SFT"]


def test_rank_n_and_display_names(tmp_path):
    runs = [full_run(tmp_path / "a", "hf:ckpt", 0.5, n=20, display_name="direct"),
            full_run(tmp_path / "b", "hf:ckpt", 0.7, n=20, display_name="zero-shot CoT"),
            full_run(tmp_path / "c", "model-c", 0.7, n=20),
            write_run(tmp_path / "l", "limited", {"cub_closed_seen": {"accuracy": constant(5, 1.0)}}, n_items_total=40)]
    t1 = table(build_tables(load_runs(runs), [], {}), 1)
    by_label = {r.label: r for r in t1.rows}
    assert {label: r.rank for label, r in by_label.items()} == {"direct": 3, "zero-shot CoT": 1, "model-c": 1, "limited": None}
    lines = leaderboard_markdown(build_leaderboard(runs, [], with_reported=False, n_resamples=0, seed=0), []).splitlines()
    assert "| Models | # | n | Air.<br>seen |" in "\n".join(lines)
    assert any(line.startswith("| direct | 3 | 20 | ") for line in lines)
    assert any(line.startswith("| limited |  | 5 | ") for line in lines)


def test_ss_relative_from_another_encoder_is_labelled_and_not_ranked(tmp_path):
    paper = full_run(tmp_path / "p", "model-p", 0.4, n=20, ss_encoder=SIGLIP)
    minilm = full_run(tmp_path / "m", "model-m", 0.8, n=20, ss_encoder="/site-packages/gt/all-MiniLM-L6-v2")
    tables = build_tables(load_runs([paper, minilm]), [], {})
    t2, t6 = table(tables, 2), table(tables, 6)
    rows = {r.key: r for r in t2.rows}
    assert rows["model-m"].label == "model-m [SS: all-MiniLM-L6-v2]" and rows["model-m"].rank is None
    assert not rows["model-m"].marks and rows["model-p"].rank == 1  # higher, but not comparable
    assert {r.label for r in t6.rows} == {"model-p", "model-m"}  # inclusion needs no encoder


def test_a_parent_folder_names_the_runs_below_it(tmp_path):
    full_run(tmp_path / "out" / "demo", "a", 0.5, n=4)
    full_run(tmp_path / "out" / "b", "b", 0.5, n=4)
    with pytest.raises(FinebenchError, match=r"2 run folder\(s\) below it: .*out/b .*out/demo; pass them, e\.g\. `.*out/\*`"):
        load_run(tmp_path / "out")


def test_terminal_summary_lists_rank_n_and_averages(tmp_path):
    runs = [full_run(tmp_path / "a", "model-a", 0.5, n=20), full_run(tmp_path / "b", "model-b", 0.7, n=20)]
    text = summary_text(build_leaderboard(runs, [], with_reported=False, n_resamples=0, seed=0))
    block = text.split("Table 1: Closed-world accuracy (%) (protocol fine-r1, options release)\n")[1].split("Table 2")[0]
    lines = block.splitlines()
    assert lines[0].split() == ["#", "model", "n", "avg", "overall", "avg", "seen", "avg", "unseen"]
    t1 = table(build_tables(load_runs(runs), [], {}), 1)
    for line, row in zip(lines[1:], sorted(t1.rows, key=lambda r: r.rank)):
        expected = [f"{row.values[k]:.2f}" for k in ("avg", "seen:avg", "unseen:avg")]
        assert line.split() == [str(row.rank), row.label, "20", *expected]
    assert [line.split()[:2] for line in lines[1:3]] == [["1", "model-b"], ["2", "model-a"]]  # best first


def test_plots_have_sane_axes_chance_lines_and_keep_their_legends_promises(tmp_path):
    zero = full_run(tmp_path / "z", "zero", 0.0, n=10)
    cards = tmp_path / "cards"
    write_card(cards, "zero", "general-mllm", "Zero", {"accuracy": {"cub_closed_seen": 61.0}})
    from finebench.models.cards import all_cards

    board = build_leaderboard([zero], all_cards(cards), with_reported=True, n_resamples=0, seed=0)
    t1 = table(board.tables, 1)
    assert chance_level(t1) == 25.0 and chance_level(table(board.tables, 6)) is None
    bars = bars_figure(t1)
    assert bars.axes[0].get_ylim() == (0.0, 100.0)
    legend = [t.get_text() for t in bars.legends[0].get_texts()]
    assert legend == ["Zero", "paper-reported value", "chance (25%)"]
    scatter = scatter_figure(t1)
    ax = scatter.axes[0]
    assert ax.get_xlim() == (0.0, 100.0) and ax.get_ylim() == (0.0, 100.0)
    assert ax.get_legend().get_title().get_text() == "dots: datasets, diamonds: averages"
    assert "chance (25%)" in [t.get_text() for t in ax.get_legend().get_texts()]
    # a one-dataset table has no dots: its legend must not promise them
    synth = write_run(tmp_path / "s", "m", {"synth_closed_seen": {"accuracy": constant(8, 0.5)},
                                            "synth_closed_unseen": {"accuracy": constant(8, 0.25)}})
    [synth_table] = build_tables(load_runs([synth]), [], {})
    assert scatter_figure(synth_table).axes[0].get_legend().get_title().get_text() == "diamonds: averages"


PROBE = """<script>window.addEventListener('load', function () {
  var out = {width: window.innerWidth, tables: []};
  document.querySelectorAll('table.leaderboard').forEach(function (table) {
    var avg = Array.prototype.find.call(table.querySelectorAll('th'), function (th) { return th.textContent === 'Avg. overall'; });
    var scroller = table.parentElement;
    var before = avg.getBoundingClientRect();
    scroller.scrollLeft = 100000;
    var model = table.querySelector('tbody th[scope=row]').getBoundingClientRect();
    out.tables.push({id: table.id, avgLeft: before.left, avgRight: before.right, scrolled: scroller.scrollLeft,
                     modelLeft: model.left, scrollerLeft: scroller.getBoundingClientRect().left});
  });
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,900", *args],
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_averages_and_model_column_stay_in_view_at_1280px(tmp_path):
    from finebench.cli.leaderboard import leaderboard_command

    long = "a checkpoint with a long display name trained for many epochs"
    runs = [full_run(tmp_path / "a", "model-a", 0.6, n=20, display_name=long),
            full_run(tmp_path / "b", "model-b", 0.5, n=20)]
    out = tmp_path / "lb"
    leaderboard_command(runs, out, resamples=50, plots=False)
    page = out / "index.html"
    screenshot = tmp_path / "shot.png"
    result = chromium([f"--screenshot={screenshot}", page.as_uri()], tmp_path)
    assert screenshot.is_file(), result.stderr[-2000:]
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.width == 1280
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = chromium(["--virtual-time-budget=5000", "--dump-dom", probed.as_uri()], tmp_path)
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    probe = json.loads(found.group(1))
    assert probe["width"] == 1280 and len(probe["tables"]) == 3
    for t in probe["tables"]:
        assert 0 <= t["avgLeft"] and t["avgRight"] <= 1280, t  # "Avg. overall" on screen without scrolling
        assert t["scrolled"] > 0, t  # the datasets do overflow at 1280 px ...
        assert abs(t["modelLeft"] - t["scrollerLeft"]) < 2, t  # ... and the model column stays put


def test_the_leaderboard_command_prints_the_summary_and_honours_include_demo(tmp_path):
    from typer.testing import CliRunner

    from finebench.cli.leaderboard import app

    real = full_run(tmp_path / "real", "model-a", 0.6, n=20)
    demo = full_run(tmp_path / "demo", "tiny-qwen2.5-vl", 0.0, n=2, family="test", generated="demo")
    args = ["leaderboard", str(real), str(demo), "--out", str(tmp_path / "lb"), "--no-plots", "--no-html",
            "--resamples", "0", "--baselines", str(tmp_path / "no-cards")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Table 1: Closed-world accuracy (%)" in result.output and "model-a" in result.output
    assert "tiny-qwen2.5-vl" not in result.output.split("note:")[0] and "--include-demo" in result.output
    result = CliRunner().invoke(app, [*args, "--include-demo"])
    assert "tiny-qwen2.5-vl (demo)" in result.output
