"""`finebench leaderboard` end to end: README, CSV/JSON exports, PNG plots, the self-contained
index.html (rendered in headless Chromium), and the typer commands."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from finebench.cli.leaderboard import app, leaderboard_command
from tests.test_leaderboard_support import constant, full_run, write_run

CHROMIUM = Path("/usr/bin/chromium")


def write_card(directory: Path, name: str, family: str, display: str, reported: dict | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"name: {name}", "adapter: hf", f"model: org/{name}", f"family: {family}", f"display_name: {display}"]
    if reported:
        lines.append("reported: " + json.dumps(reported))
    (directory / f"{name}.yaml").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A leaderboard of three models (one with reported numbers) and a limited run."""
    root = tmp_path_factory.mktemp("lb")
    baselines = root / "baselines"
    write_card(baselines, "model-r", "reasoning-mllm", "Model R", {"accuracy": {"cub_closed_seen": 88.5}})
    write_card(baselines, "model-g", "general-mllm", "Model G")
    runs = [
        full_run(root / "r", "model-r", 0.7, n=40, family="reasoning-mllm", created="2026-11-21T08:00:00+00:00"),
        full_run(root / "g", "model-g", 0.5, n=40, family="general-mllm"),
        full_run(root / "c", "clip-x", 0.6, n=40, family="clip"),
        write_run(root / "l", "limited", {"cub_closed_seen": {"accuracy": constant(20, 0.5)}}, n_items_total=3483),
    ]
    out = root / "out"
    files = leaderboard_command(runs, out, baselines=baselines, resamples=200, seed=3)
    return out, files


def test_readme_states_protocol_date_layout_and_reported_rows(board):
    out, files = board
    assert files[0] == out / "README.md" and all(f.is_file() for f in files)
    text = (out / "README.md").read_text()
    assert "## protocol fine-r1, options release" in text and "ground truth always first" in text
    assert "Runs dated 2026-11-20 to 2026-11-21." in text
    assert "200 resamples, seed 3" in text
    for heading in ("### Table 1: Closed-world accuracy (%)", "### Table 2: Open-world SS_relative (%)",
                    "### Table 6: Open-world inclusion accuracy (%)"):
        assert heading in text
    table1 = text.split("### Table 1")[1].split("### Table 2")[0]
    rows = [line.split(" | ")[0].lstrip("| ") for line in table1.splitlines() if line.startswith("| ")][2:]
    assert rows == ["**CLIP Models**", "clip-x", "**General MLLMs**", "Model G", "limited", "**Reasoning MLLMs**",
                    "Model R", "Model R (reported)"]
    reported = next(line for line in table1.splitlines() if line.startswith("| Model R (reported) |"))
    assert "| 88.50 |" in reported and "±" not in reported and "–" in reported
    model_r = next(line for line in table1.splitlines() if line.startswith("| Model R |"))
    assert re.search(r"\*\*72\.50\*\*(\\\*)? ± \d+\.\d\d", model_r)  # best, with its interval
    assert "[index.html](index.html)" in text and "[leaderboard.csv](leaderboard.csv)" in text


def test_csv_and_json_exports(board):
    out, _ = board
    tidy = pd.read_csv(out / "leaderboard.csv")
    records = json.loads((out / "leaderboard.json").read_text())
    assert len(records) == len(tidy)
    cell = tidy[(tidy.table == 1) & (tidy.model == "model-r") & (tidy.column == "seen:cub")].iloc[0]
    assert cell.value == pytest.approx(72.5) and cell.ci_low < 72.5 < cell.ci_high and cell.mark == "best"
    assert cell.task == "cub_closed_seen" and cell.n == 40
    reported = tidy[(tidy.model == "model-r (reported)") & (tidy.column == "seen:cub")].iloc[0]
    assert bool(reported.reported) and reported.value == 88.5 and pd.isna(reported.ci_low)
    assert pd.isna(tidy[(tidy.model == "limited") & (tidy.column == "seen:aircraft")].iloc[0].value)
    wide = pd.read_csv(out / "table1-fine-r1-release.csv")
    assert list(wide.columns[:4]) == ["group", "model", "reported", "seen Air."]
    assert wide.set_index("model").loc["Model G", "overall Avg."] == pytest.approx(56.25)


def test_plots_are_non_empty_pngs(board):
    out, files = board
    pngs = [f for f in files if f.suffix == ".png"]
    assert {f.name for f in pngs} == {f"table{n}-fine-r1-release-{kind}.png" for n in (1, 2, 6) for kind in ("bars", "scatter")}
    for png in pngs:
        with Image.open(io.BytesIO(png.read_bytes())) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 300
            assert len(image.convert("L").getcolors(maxcolors=1 << 16) or ()) > 10  # drawn, not blank


def test_html_is_self_contained(board):
    out, _ = board
    html = (out / "index.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 6
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count('<table class="leaderboard"') == 3


def chromium_dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    out = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=5000", "--dump-dom",
         page.as_uri() + fragment],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_html_renders_in_headless_chromium_with_sortable_tables_and_plots(board, tmp_path):
    out, _ = board
    dom = chromium_dom(out / "index.html", tmp_path, "#sort=table1-fine-r1-release/avg/asc")
    assert dom.count('data-sortable="ready"') == 3  # the inline script ran on every table
    assert dom.count('data-state="loaded"') == 6 and 'data-state="broken"' not in dom  # every PNG decoded
    table1 = dom.split('id="table1-fine-r1-release"')[1].split("</table>")[0]
    assert 'data-sorted="avg/asc"' in dom
    order = re.findall(r'<tr class="model[^"]*" data-index="\d+"><th scope="row">([^<]+)</th>', table1)
    # ascending overall average; rows without one (limited run, reported row) last
    assert order[:3] == ["Model G", "clip-x", "Model R"] and set(order[3:]) == {"limited", "Model R (reported)"}
    assert re.search(r'<th data-col="avg" aria-sort="ascending"', table1.replace('rowspan="2" ', ""))


def test_typer_commands(tmp_path):
    a = full_run(tmp_path / "a", "a", 0.7, n=30)
    b = full_run(tmp_path / "b", "b", 0.4, n=30)
    runner = CliRunner()
    result = runner.invoke(app, ["leaderboard", str(a), str(b), "--out", str(tmp_path / "lb"), "--no-plots",
                                 "--no-html", "--resamples", "50", "--baselines", str(tmp_path / "no-cards")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lb" / "README.md").is_file() and not (tmp_path / "lb" / "index.html").exists()
    result = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "100", "--json", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "| cub_closed_seen | accuracy | 30 | 73.33 | 43.33 | +30.00 |" in result.output
    assert json.loads((tmp_path / "c.json").read_text())["results"][0]["mcnemar"]["a_only"] == 9
    from finebench.cli.analyze import app as analyze_app

    result = runner.invoke(analyze_app, ["report", str(a), "--resamples", "100"])
    assert result.exit_code == 0 and (a / "analysis" / "analysis.md").is_file()


def test_importing_the_commands_stays_light():
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, finebench.cli.leaderboard, finebench.cli.analyze; "
         "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib', 'scipy') if m in sys.modules))"],
        capture_output=True, text=True,
    )
    assert probe.stdout.strip() == "[]", probe.stderr
