"""Hostile results files: every string field of results.json, in turn, holds a payload that is
HTML, Markdown, a spreadsheet formula and a path climbing out of the folder. The leaderboard
(index.html, README.md, CSV), and the analysis report either refuse the file with a one-line error
or write only inside their output folder, with nothing of the payload live: checked in headless
Chromium (the page's own DOM after its scripts ran) and by parsing what was written."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from finebench.cli.leaderboard import analyze_command, leaderboard_command
from finebench.util.errors import FinebenchError
from tests.chromium import CHROMIUM, Chromium
from tests.fuzz.hostile import (
    LIVE_ELEMENTS_JS,
    MARK,
    field_name,
    files_under,
    planted,
    string_fields,
    write_variant,
)
from tests.test_leaderboard_support import constant, write_run

FORMULA_PREFIXES = ("=", "+", "-", "@")


def base_run(directory: Path) -> Path:
    """Two tasks and every field ``finebench run`` writes."""
    path = write_run(directory, "model-a", {"cub_closed_seen": {"accuracy": constant(6, 0.5)},
                                            "cub_open_unseen": {"inclusion": constant(6, 0.5),
                                                                "ss_relative": constant(6, 0.5)}})
    data = json.loads((path / "results.json").read_text())
    data["config"].update(strategy="direct", icl_pool="pool.jsonl", ss_encoder="enc", metrics=["accuracy"])
    for meta in data["tasks"].values():
        meta.update(strategy="direct", option_order="release")
    data["groups"] = {"fgvr": {"accuracy": 50.0, "n_tasks": 2, "tasks": list(data["results"])}}
    data["environment"].update(git_hash="abc", packages={"torch": "2.14.1"})
    data["general"] = {"mme": {"score": 1500.0, "unit": "score", "lmms_task": "mme", "metrics": {"x": 1.0},
                               "lmms_results": "lmms/results.json", "limit": None}}
    (path / "results.json").write_text(json.dumps(data, indent=2))
    return path


class LiveMarkup(HTMLParser):
    """What of the payload would be live in a browser: its tags, event handlers, extra scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.injected: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if any(n.startswith("on") for n in names) or MARK in (names.get("class") or "") or \
                (tag == "img" and names.get("src") == "x") or tag == "b":
            self.injected.append(f"<{tag} {names}>")


def static_problems(out: Path) -> list[str]:
    """Injection visible without a browser: live HTML, split Markdown rows, formula CSV cells."""
    problems = []
    if (out / "index.html").is_file():
        parser = LiveMarkup()
        parser.feed((out / "index.html").read_text())
        problems += [f"index.html: live {tag}" for tag in parser.injected]
        if parser.scripts != 1:
            problems.append(f"index.html: {parser.scripts} scripts")
    for md in [*out.glob("*.md")]:
        text = md.read_text()
        for bad in ("<img", "<script", "<b ", r"(?<!\\)\]\(javascript:"):
            if re.search(bad, text):
                problems.append(f"{md.name}: raw {bad!r}")
        for table in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
            widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}
            if len(widths) != 1:
                problems.append(f"{md.name}: a table row has a different number of cells {sorted(widths)}")
    for sheet in out.glob("*.csv"):
        for row in csv.reader(io.StringIO(sheet.read_text())):
            problems += [f"{sheet.name}: formula cell {c[:20]!r}" for c in row if c.startswith(FORMULA_PREFIXES)
                         and not re.fullmatch(r"-?[0-9.e+-]+", c)]
    return problems


SHOWN_FIELDS = ("model.name", "model.family", "created", "tasks.cub_closed_seen.dataset",
                "tasks.cub_closed_seen.protocol", "tasks.cub_open_unseen.option_order", "results.<key cub_closed_seen>")
"""The fields a reader sees (or that name files): the fast test plants these; the slow one all."""


def build_boards(root: Path, only: tuple[str, ...] | None = None, explorer: bool = False) -> dict:
    """One leaderboard and one analysis report per planted field: field -> (output folder or the
    refusal message, the report folder, problems: files written outside the output folders and
    crashes other than a finebench error)."""
    source = base_run(root / "source")
    data = json.loads((source / "results.json").read_text())
    fields = [f for f in string_fields(data) if only is None or field_name(f) in only]
    outcomes = {}
    for i, field in enumerate(fields):
        variant = write_variant(source, root / f"v{i}" / "a" / "b" / "run", planted(data, field))
        before = files_under(root)
        out, report = root / f"v{i}" / "a" / "b" / "board", root / f"v{i}" / "a" / "b" / "report"
        crashes = []
        outcome: object = out
        for command in (lambda: leaderboard_command([variant], out, resamples=20, plots=False, explorer=explorer),
                        lambda: analyze_command(variant, out=report, resamples=20)):
            try:
                command()
            except FinebenchError as exc:
                outcome = str(exc)
            except Exception as exc:  # noqa: BLE001 (a traceback for the user: reported by check_boards)
                crashes.append(f"{type(exc).__name__}: {exc}"[:200])
        escaped = {p for p in files_under(root) - before if out not in p.parents and report not in p.parents}
        escaped |= {f"crashed with {c}" for c in crashes}
        outcomes[field_name(field)] = (outcome, report, escaped)
    assert len(outcomes) == len(only) if only else len(outcomes) > 40  # every string field, not only the shown ones
    return outcomes


@pytest.fixture(scope="module")
def hostile_boards(tmp_path_factory):
    return build_boards(tmp_path_factory.mktemp("hostile"), explorer=True)


@pytest.fixture(scope="module")
def shown_boards(tmp_path_factory):
    return build_boards(tmp_path_factory.mktemp("shown"), SHOWN_FIELDS)


def check_boards(boards: dict, minimum_rendered: int) -> None:
    problems = []
    rendered = 0
    for field, (outcome, report, escaped) in boards.items():
        problems += [f"{field}: {p}" if isinstance(p, str) else f"{field}: wrote {p}" for p in escaped]
        if isinstance(outcome, str):
            if "\n" in outcome.strip() or len(outcome) > 400:
                problems.append(f"{field}: refusal is not one short line: {outcome[:200]!r}")
            continue
        rendered += 1
        problems += [f"{field}: {p}" for p in static_problems(outcome) + static_problems(report)]
    assert not problems, "\n".join(problems)
    assert rendered >= minimum_rendered  # most fields are shown (escaped), not refused


def test_shown_fields_are_refused_or_written_escaped_inside_the_output_folder(shown_boards):
    check_boards(shown_boards, minimum_rendered=len(SHOWN_FIELDS) - 1)


def test_the_payload_reaches_the_page_as_text(shown_boards):
    """So the checks above can fail: a shown field's payload is in the page, as inert text."""
    out, _, _ = shown_boards["model.name"]
    html = (out / "index.html").read_text()
    assert "&lt;img src=x onerror=" in html and "<img src=x" not in html
    dataset, _, _ = shown_boards["tasks.cub_closed_seen.dataset"]
    assert isinstance(dataset, Path) and "&lt;script&gt;" in (dataset / "index.html").read_text()
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p.name) for p in dataset.iterdir())


def test_task_names_that_are_not_safe_names_are_refused(shown_boards):
    outcome, _, _ = shown_boards["results.<key cub_closed_seen>"]
    assert isinstance(outcome, str) and "not a safe name" in outcome


@pytest.mark.slow
def test_every_string_field_is_refused_or_written_escaped_inside_the_output_folder(hostile_boards):
    check_boards(hostile_boards, minimum_rendered=30)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs chromium at /usr/bin/chromium")
def test_no_injected_element_is_live_in_chromium(hostile_boards, tmp_path):
    pages = {f"{field} ({page})": out / page for field, (out, _, _) in hostile_boards.items() if isinstance(out, Path)
             for page in ("index.html", "explorer/index.html") if (out / page).is_file()}
    live, shown_in_explorer = {}, []
    with Chromium(tmp_path / "profile") as browser:
        for field, page in pages.items():
            browser.open(page.as_uri())
            state = json.loads(browser.evaluate(LIVE_ELEMENTS_JS))
            if "explorer" in field:  # the explorer loads its data chunks after the load event
                browser.evaluate("new Promise(done => setTimeout(done, 250))")
                state = json.loads(browser.evaluate(LIVE_ELEMENTS_JS))
                if browser.evaluate("document.body.textContent.includes('onerror=')"):
                    shown_in_explorer.append(field)
                if state["flag"] is not None or state["injected"]:
                    live[field] = state
                continue
            sortable = browser.evaluate("document.querySelectorAll('table[data-sortable=ready]').length")
            if state != {"flag": None, "injected": 0, "scripts": 1} or not sortable:
                live[field] = {**state, "sortable_tables": sortable}
    assert not live, json.dumps(live, indent=1)
    assert len(pages) > 60 and shown_in_explorer  # both pages of most fields; the explorer shows some payloads


def test_a_hostile_dataset_cannot_place_plots_or_tables_outside_out(tmp_path):
    source = base_run(tmp_path / "deep" / "er" / "run")
    data = json.loads((source / "results.json").read_text())
    data["tasks"]["cub_closed_seen"]["dataset"] = "../../../x"
    (source / "results.json").write_text(json.dumps(data))
    data["model"]["name"] = "$\\frac{1}{0}$ [/b]"
    before = files_under(tmp_path)
    out = tmp_path / "deep" / "er" / "board"
    leaderboard_command([source], out, resamples=0, plots=True)
    new = files_under(tmp_path) - before
    assert new and all(out in p.parents for p in new)
    assert any(p.suffix == ".png" for p in new)


def test_runs_with_failed_samples_are_flagged(tmp_path):
    from tests.test_leaderboard_support import sample_rows

    rows = sample_rows("cub_closed_seen", {"accuracy": constant(6, 0.5)})
    rows[0].update(error="generation failed: HTTP 500", response=None, scores={"accuracy": 0.0})
    run = write_run(tmp_path / "run", "failing", {"cub_closed_seen": rows})
    clean = write_run(tmp_path / "clean", "clean", {"cub_closed_seen": {"accuracy": constant(6, 0.5)}})
    out = tmp_path / "board"
    leaderboard_command([run, clean], out, resamples=0, plots=False)
    readme = (out / "README.md").read_text()
    failing = next(line for line in readme.splitlines() if line.startswith("| failing"))
    assert "‡" in failing and "‡" not in next(line for line in readme.splitlines() if line.startswith("| clean"))
    assert 'class="failed"' in (out / "index.html").read_text()
    tidy = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert {(r["model"], r["n_errors"]) for r in tidy if r["task"] == "cub_closed_seen"} == {("failing", "1"), ("clean", "0")}
