"""Markdown: the leaderboard ``README.md`` and the ``finebench analyze`` report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import finebench
from finebench.leaderboard.analysis import RunAnalysis
from finebench.leaderboard.build import Leaderboard
from finebench.leaderboard.collect import Run, Setting
from finebench.leaderboard.general import GeneralRow, general_columns
from finebench.leaderboard.stats import CONFIDENCE, SIGNIFICANCE_LEVEL
from finebench.leaderboard.tables import DECIMALS, Row, Table
from finebench.util.escaping import markdown_code, markdown_text, terminal_text

MISSING = "–"
PROTOCOL_NOTES = {
    "fine-r1": "the paper's scorer, reproduced quirks included",
    "finebench": "the corrected scorer (last complete answer block, normalised option-exact matching)",
}
OPTION_ORDER_NOTES = {
    "release": "options in release order, ground truth always first (as in the paper)",
    "shuffled": "options shuffled per item with a recorded seed",
    "circular": "each item asked once per ground-truth position (CircularEval); cells are the mean over positions",
}


def escape(text: object) -> str:
    """Free text from results and samples files (model, family, dataset, class names...): shown
    literally, never as HTML, a link or a second table cell."""
    return markdown_text(text)


def number(value: float) -> str:
    return f"{value:.{DECIMALS}f}"


def half_width(interval: tuple[float, float]) -> str:
    return number((interval[1] - interval[0]) / 2)


def setting_description(setting: Setting) -> str:
    protocol = PROTOCOL_NOTES.get(setting.protocol, "")
    order = OPTION_ORDER_NOTES.get(setting.option_order or "", "option order not recorded in the results")
    return f"Protocol {setting.protocol}{f' ({protocol})' if protocol else ''}; {order}."


def setting_label(setting: Setting) -> str:
    return escape(setting.label)


def row_n(row: Row) -> str:
    """Items scored per task behind a measured row: ``40``, or ``2-150`` when its tasks differ."""
    counts = sorted({t.n for t in row.task_runs.values()})
    if not counts:
        return ""
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


RUN_CONFIG_HEADERS = ("run", "model", "items", "tasks", "protocol", "trials", "limit", "seed", "SS encoder",
                      "strategy", "created", "results")


def run_config_cells(run: Run) -> list[str]:
    """One line of the runs table: how the numbers of this run were made."""
    config = run.config

    def shown(key: str, default: str = "default") -> str:
        value = config.get(key)
        return default if value is None else str(value)

    counts = sorted({t.n for t in run.tasks.values()})
    items = ", ".join(run.generated) if run.generated else "real"
    n = "" if not counts else (str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}")
    return [run.key, run.model, f"{items}, n={n}" if n else items, str(len(run.tasks)), shown("protocol"),
            shown("trials"), shown("limit", "all"), shown("seed"), shown("ss_encoder", "none"),
            shown("strategy", "direct"), run.created[:19], str(run.results_path)]


def runs_markdown(runs: Sequence[Run]) -> list[str]:
    lines = ["| " + " | ".join(RUN_CONFIG_HEADERS) + " |", "|" + " --- |" * len(RUN_CONFIG_HEADERS)]
    lines += ["| " + " | ".join(escape(cell) for cell in run_config_cells(run)) + " |" for run in runs]
    return lines


def run_dates(table: Table, created: Mapping[Path, str]) -> str:
    dates = sorted({created[p][:10] for row in table.rows for p in row.sources if created.get(p)})
    if not dates:
        return "no measured runs"
    return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"


def markdown_cell(row: Row, key: str) -> str:
    if key not in row.values:
        return MISSING
    text = number(row.values[key])
    mark = row.marks.get(key)
    if mark == "best":
        text = f"**{text}**"
    elif mark == "second":
        text = f"<u>{text}</u>"
    if key in row.significant:
        text += "\\*"
    if key in row.partial_columns:
        text += "†"
    if key in row.failed_columns:
        text += "‡"
    if key in row.intervals:
        text += f" ± {half_width(row.intervals[key])}"
    return text


def markdown_table(table: Table) -> list[str]:
    headers = ["Models", "#", "n"] + [f"{escape(c.label)}<br>{c.split or 'overall'}" for c in table.columns]
    lines = ["| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * (len(table.columns) + 2)]
    for group, rows in table.groups():
        lines.append(f"| **{escape(group)}** |" + " |" * (len(table.columns) + 2))
        for row in rows:
            rank = "" if row.rank is None else str(row.rank)
            cells = [escape(row.label), rank, row_n(row), *(markdown_cell(row, c.key) for c in table.columns)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def legend(board: Leaderboard) -> str:
    parts = [
        "Values are percentages, the mean over trials as in `results.json`. Per split: the six datasets "
        "and their average; the last column averages the two split averages (the paper's layout). "
        "**Bold**: best, <u>underlined</u>: second best among measured rows (ties at two decimals share the mark)."
    ]
    if board.n_resamples:
        parts.append(
            f"`± h`: half-width of the {CONFIDENCE:.0%} bootstrap percentile interval over items "
            f"({board.n_resamples} resamples, seed {board.seed}); `*`: the best row beats every runner-up "
            f"significantly (paired bootstrap, p < {SIGNIFICANCE_LEVEL})."
        )
    parts.append(
        f"`†`: scored on a `--limit` sample, not all items (not ranked). `‡`: some samples failed (`n_errors`, "
        f"scored as wrong). {MISSING}: not run. Rows marked (reported) are the "
        "paper's numbers from the model cards in `baselines/`, not measured here, and are never marked. "
        "`#`: rank by the overall average; `n`: items scored per task. `[SS: encoder]`: SS_relative from another "
        "text encoder than the paper's SigLIP, not comparable with it (not ranked). `(demo)`: the offline demo's "
        "generated items, shown only with `--include-demo`. The runs table at the end gives each run's settings."
    )
    return " ".join(parts)


def leaderboard_markdown(board: Leaderboard, files: Sequence[str]) -> str:
    created = {run.results_path: run.created for run in board.runs}
    lines = [
        "# finebench leaderboard",
        "",
        f"Generated {board.generated} (UTC) by finebench {finebench.__version__} from "
        f"{len(board.runs)} result file(s). Fine-R1 benchmark (ICLR 2026): six FGVR datasets, seen and unseen categories.",
        "",
        legend(board),
        "",
    ]
    lines += [f"> {escape(note)}" for note in board.notes] + ([""] if board.notes else [])
    current: Setting | None = None
    for table in board.tables:
        if table.setting != current:
            current = table.setting
            lines += [f"## {setting_label(current)}", "", escape(setting_description(current)), ""]
        lines += [
            f"### {escape(table.title)}",
            "",
            f"Runs dated {run_dates(table, created)}.",
            "",
            *markdown_table(table),
            "",
        ]
    if board.general:
        lines += ["## General capability (Appendix F)", "",
                  "Scores from lmms-eval (`finebench run --general ...`) next to the model's FGVR averages in the "
                  "paper setting. MME is a score out of 2800; the others are percentages.", "",
                  *general_markdown(board.general), ""]
    lines += ["## Runs", "", *runs_markdown(board.runs), ""]
    if files:
        lines += ["## Files", "", *(f"- [{escape(name)}]({name})" for name in files), ""]
    return "\n".join(lines)


def summary_text(board: Leaderboard) -> str:
    """The terminal's view: per table, each measured row's rank, n and averages (the full tables
    with intervals are in README.md and index.html)."""
    lines = []
    for table in board.tables:
        rows = sorted((r for r in table.rows if not r.reported), key=lambda r: (r.rank is None, r.rank or 0))
        if not rows:
            continue
        averages = sorted((c for c in table.columns if c.is_average), key=lambda c: c.split is not None)  # overall first
        headers = ["#", "model", "n", *(f"avg {c.split or 'overall'}" for c in averages)]
        body = [[str(r.rank or ""), terminal_text(r.label), row_n(r), *(number(r.values[c.key]) if c.key in r.values else MISSING
                                                         for c in averages)] for r in rows]
        widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]
        lines.append(terminal_text(f"{table.title} ({table.setting.label})"))
        for line in [headers, *body]:
            lines.append("  " + "  ".join(cell.ljust(w) if i == 1 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
    lines += [f"note: {terminal_text(note)}" for note in board.notes]
    return "\n".join(lines) + ("\n" if lines else "")


def general_markdown(rows: Sequence[GeneralRow]) -> list[str]:
    columns = general_columns()
    lines = ["| Models | " + " | ".join(label for _, label in columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for row in rows:
        cells = [number(row.values[key]) if key in row.values else MISSING for key, _ in columns]
        lines.append("| " + " | ".join([escape(row.label), *cells]) + " |")
    return lines


def analysis_markdown(analysis: RunAnalysis, top_classes: int = 10) -> str:
    run = analysis.run
    lines = [f"# Analysis of {escape(run.model)}", "",
             f"Results: {markdown_code(run.results_path)} (created {escape(run.created)}).", ""]
    if analysis.missing_samples:
        lines += [f"> No samples file, no per-task analysis: {escape(', '.join(analysis.missing_samples))}.", ""]
    if analysis.split_gaps:
        lines += ["## Seen vs unseen", "", "| dataset | world | setting | metric | seen | unseen | gap |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: |"]
        lines += [f"| {escape(g.dataset)} | {escape(g.world)} | {escape(g.setting)} | {escape(g.metric)} | {number(g.seen)} | {number(g.unseen)} | "
                  f"{g.gap:+.{DECIMALS}f} |" for g in analysis.split_gaps]
        lines.append("")
    if analysis.circular:
        n_positions = len(analysis.circular[0].accuracy_by_position)
        lines += ["## CircularEval (position bias)", "",
                  "Circular accuracy: correct with the ground truth in every position. First-position gap: accuracy "
                  "with the ground truth first (the paper's layout) minus the position-balanced mean.", "",
                  "| task | items | circular acc. | mean acc. | " + " | ".join(f"GT@{p}" for p in range(n_positions))
                  + " | first-position gap | incomplete |",
                  "| --- |" + " ---: |" * (n_positions + 5)]
        for c in analysis.circular:
            positions = " | ".join(number(v) for v in c.accuracy_by_position)
            lines.append(f"| {escape(c.task)} | {c.n_items} | {number(c.circular_accuracy)} | {number(c.mean_accuracy)} | "
                         f"{positions} | {c.first_position_gap:+.{DECIMALS}f} | {c.n_incomplete} |")
        lines.append("")
    if analysis.protocol_gaps:
        lines += ["## Paper protocol vs shuffled options", "",
                  "Accuracy with the paper protocol (ground truth first) minus accuracy with shuffled options, same model "
                  "and items; interval and p-value from a paired bootstrap.", "",
                  "| task | paper | shuffled | gap | 95% CI | p |", "| --- | ---: | ---: | ---: | --- | ---: |"]
        for g in analysis.protocol_gaps:
            d = g.difference
            ci = MISSING if d is None else f"[{d.ci_low * 100:+.{DECIMALS}f}, {d.ci_high * 100:+.{DECIMALS}f}]"
            p = MISSING if d is None else f"{d.p_bootstrap:.4f}"
            lines.append(f"| {escape(g.task)} | {number(g.paper)} | {number(g.shuffled)} | {g.gap:+.{DECIMALS}f} | {ci} | {p} |")
        lines.append("")
    for task in analysis.tasks:
        lines += [
            f"## {escape(task.task)}",
            "",
            f"{task.n_samples} samples ({task.n_errors} failed generations). Format compliance "
            f"{number(task.format_compliance)}%, no answer {number(task.no_answer_rate)}%, mean response "
            f"{task.mean_response_chars:.0f} characters ({task.mean_response_words:.0f} words).",
            "",
            f"Hardest classes by {escape(task.metric)} ({min(top_classes, len(task.per_class))} of {len(task.per_class)}):",
            "",
            "| class | samples | " + escape(task.metric) + " |",
            "| --- | ---: | ---: |",
            *(f"| {escape(c.name)} | {c.n} | {number(c.score)} |" for c in task.per_class[:top_classes]),
            "",
        ]
        if task.confusions:
            lines += ["Most frequent confusions (target answered as another class):", "",
                      "| target | answered | count |", "| --- | --- | ---: |",
                      *(f"| {escape(c.target)} | {escape(c.answer)} | {c.count} |" for c in task.confusions), ""]
    return "\n".join(lines)
