"""``index.html``: the leaderboard as one self-contained file (plots embedded as data URIs, a few
lines of inline JS to sort), so it can be mailed, attached to a CI run or opened offline.

Sorting: click a column header (descending, then ascending, then back to the paper's grouped
order). A view can be linked as ``index.html#sort=TABLE_ID/COLUMN/desc``.

Layout: the paper's tables are 16 numbers wide, more than a laptop screen shows. Here the averages
come first (overall, seen, unseen: the columns a reader compares first), then the datasets, and the
model column sticks to the left edge while the datasets scroll; a rank and the items per task (n)
sit next to the name. Checked at 1280 px in headless Chromium by the tests.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import finebench
from finebench.leaderboard.build import Leaderboard
from finebench.leaderboard.collect import Run
from finebench.leaderboard.general import GeneralRow, general_columns
from finebench.leaderboard.render_md import (
    MISSING,
    RUN_CONFIG_HEADERS,
    half_width,
    number,
    row_n,
    run_config_cells,
    setting_description,
)
from finebench.leaderboard.stats import CONFIDENCE, SIGNIFICANCE_LEVEL
from finebench.leaderboard.tables import SPLITS, Column, Row, Table
from finebench.util.escaping import html_text as escape

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; color: #222; }
div.scroll { overflow-x: auto; max-width: 100%; }
table.leaderboard { border-collapse: collapse; margin: 1em 0 2em; font-variant-numeric: tabular-nums; }
table.leaderboard th, table.leaderboard td { padding: 3px 7px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
table.leaderboard th[scope=row], table.leaderboard th.models { text-align: left; }
table.leaderboard th[scope=row], table.leaderboard th.models { position: sticky; left: 0; z-index: 1; background: #fff;
  white-space: normal; min-width: 10em; max-width: 18em; box-shadow: 1px 0 0 #ccc; }
table.leaderboard tr.reported th[scope=row] { background: #fff; }
td.rank, td.n { color: #555; }
td.avg-first { border-left: 2px solid #888; }
span.n { color: #999; font-size: 75%; margin-left: 2px; }
table.runs { border-collapse: collapse; margin: 1em 0; font-size: 90%; }
table.runs th, table.runs td { padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
table.leaderboard thead th { border-bottom: 2px solid #444; }
table.leaderboard th[data-col] { cursor: pointer; user-select: none; }
table.leaderboard th[aria-sort=descending]::after { content: " \\25BE"; }
table.leaderboard th[aria-sort=ascending]::after { content: " \\25B4"; }
tr.group td { background: #f2f2f2; font-weight: 600; text-align: center; }
tr.reported { color: #666; font-style: italic; }
td.best { font-weight: 700; }
td.second span.value { text-decoration: underline; }
td.avg { border-left: 1px solid #aaa; }
span.ci { color: #777; font-size: 85%; margin-left: 3px; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
img[data-state=broken] { outline: 2px dashed #c00; }
"""

SCRIPT = """
(function () {
  function value(row, col) {
    var cell = row.querySelector('[data-col="' + col + '"]');
    return cell && cell.dataset.value !== undefined ? parseFloat(cell.dataset.value) : NaN;
  }
  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    var grouped = dir === 'none';
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r) { if (r.classList.contains('group')) { r.hidden = !grouped; } });
    rows.sort(function (a, b) {
      if (grouped) { return a.dataset.index - b.dataset.index; }
      var x = value(a, col), y = value(b, col);
      if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
      return dir === 'asc' ? x - y : y - x;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.querySelectorAll('th[data-col]').forEach(function (th) {
      th.setAttribute('aria-sort', !grouped && th.dataset.col === col ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
    });
    table.dataset.sorted = grouped ? '' : col + '/' + dir;
  }
  var next = { none: 'desc', desc: 'asc', asc: 'none' };
  document.querySelectorAll('table.leaderboard').forEach(function (table) {
    table.querySelectorAll('th[data-col]').forEach(function (th) {
      th.addEventListener('click', function () {
        var current = table.dataset.sorted ? table.dataset.sorted.split('/') : [];
        var dir = current[0] === th.dataset.col ? next[current[1]] : 'desc';
        sortTable(table, th.dataset.col, dir);
      });
    });
    table.dataset.sortable = 'ready';
  });
  var match = /^#sort=([^/]+)\\/([^/]+)\\/(asc|desc)$/.exec(decodeURIComponent(location.hash));
  if (match && document.getElementById(match[1])) { sortTable(document.getElementById(match[1]), match[2], match[3]); }
  window.addEventListener('load', function () {
    document.querySelectorAll('img').forEach(function (img) {
      img.dataset.state = img.complete && img.naturalWidth > 0 ? 'loaded' : 'broken';
    });
  });
})();
"""


def html_cell(row: Row, column_key: str, is_average: bool, first_average: bool = False) -> str:
    classes = [row.marks[column_key]] if column_key in row.marks else []
    if is_average:
        classes.append("avg")
    if first_average:
        classes.append("avg-first")
    class_attr = f' class="{" ".join(classes)}"' if classes else ""
    col = escape(column_key)
    if column_key not in row.values:
        return f'<td data-col="{col}"{class_attr}>{MISSING}</td>'
    value = row.values[column_key]
    text = f'<span class="value">{number(value)}</span>'
    title = ""
    if column_key in row.significant:
        text += '<span class="sig">*</span>'
    if column_key in row.partial_columns:
        text += '<span class="partial">†</span>'
    if column_key in row.failed_columns:
        text += '<span class="failed" title="some samples failed (n_errors &gt; 0) and count as wrong">‡</span>'
    notes = []
    if column_key in row.intervals:
        low, high = row.intervals[column_key]
        text += f'<span class="ci">± {half_width(row.intervals[column_key])}</span>'
        notes.append(f"{CONFIDENCE:.0%} CI {number(low)} to {number(high)}")
    if column_key in row.task_runs:
        n = row.task_runs[column_key].n
        text += f'<span class="n">n={n}</span>'
        notes.append(f"{n} items")
    if notes:
        title = f' title="{escape(", ".join(notes))}"'
    return f'<td data-col="{col}" data-value="{float(value)!r}"{class_attr}{title}>{text}</td>'


def average_label(column: Column) -> str:
    return f"Avg. {column.split or 'overall'}"


def html_columns(table: Table) -> list[tuple[str, list[Column]]]:
    """Header groups in display order: the averages (overall first), then each split's datasets."""
    averages = sorted((c for c in table.columns if c.is_average or c.split is None), key=lambda c: c.split is not None)
    groups = [("Averages", averages)] if averages else []
    for split, label in SPLITS:
        groups.append((label, [c for c in table.columns if c.split == split and c not in averages]))
    return [(label, columns) for label, columns in groups if columns]


def html_table(table: Table) -> str:
    groups = html_columns(table)
    ordered = [c for _, columns in groups for c in columns]
    first_of_group = {columns[0].key for _, columns in groups}
    top = ['<th rowspan="2" class="models">Models</th>', '<th rowspan="2" data-col="rank" aria-sort="none" title="rank by the overall average">#</th>',
           '<th rowspan="2" title="items scored per task">n</th>']
    bottom = []
    for label, columns in groups:
        top.append(f'<th colspan="{len(columns)}">{escape(label)}</th>')
        for column in columns:
            text = average_label(column) if column.is_average or column.split is None else column.label
            bottom.append(f'<th data-col="{escape(column.key)}" aria-sort="none">{escape(text)}</th>')
    body, index = [], 0
    for group, rows in table.groups():
        body.append(f'<tr class="group" data-index="{index}"><td colspan="{len(ordered) + 3}">{escape(group)}</td></tr>')
        index += 1
        for row in rows:
            rank = "" if row.rank is None else str(row.rank)
            rank_value = "" if row.rank is None else f' data-value="{-row.rank}"'
            cells = (f'<td class="rank" data-col="rank"{rank_value}>{rank}</td><td class="n">{escape(row_n(row))}</td>'
                     + "".join(html_cell(row, c.key, c.is_average, c.key in first_of_group) for c in ordered))
            kind = "model reported" if row.reported else "model"
            body.append(f'<tr class="{kind}" data-index="{index}"><th scope="row">{escape(row.label)}</th>{cells}</tr>')
            index += 1
    return (
        f'<div class="scroll"><table class="leaderboard" id="{escape(table.id)}">\n<thead><tr>{"".join(top)}</tr>\n<tr>{"".join(bottom)}</tr></thead>\n'
        f'<tbody>\n{chr(10).join(body)}\n</tbody></table></div>'
    )


def runs_html(runs: Sequence[Run]) -> str:
    """What each row was measured with: a reader must not compare a 2-item demo run, a --limit
    sample or another SS encoder with a full paper-protocol run without seeing it."""
    head = "".join(f"<th>{escape(h)}</th>" for h in RUN_CONFIG_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in run_config_cells(run)) + "</tr>" for run in runs)
    return f'<div class="scroll"><table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def general_html(rows: Sequence[GeneralRow]) -> str:
    columns = general_columns()
    head = '<th class="models">Models</th>' + "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = [
        f'<tr class="model"><th scope="row">{escape(row.label)}</th>'
        + "".join(f"<td>{number(row.values[key]) if key in row.values else MISSING}</td>" for key, _ in columns)
        + "</tr>"
        for row in rows
    ]
    return f'<div class="scroll"><table class="general"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def figure_html(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(name)}"><figcaption>{escape(name)}</figcaption></figure>'


def leaderboard_html(board: Leaderboard, plots: Mapping[str, Mapping[str, bytes]], explorer: str | None = None) -> str:
    """``plots``: table id -> {file name: PNG bytes}, shown under their table; ``explorer``: the
    relative link to the per-sample explorer built next to the page, if any."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>finebench leaderboard</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>finebench leaderboard</h1>",
        f"<p>Generated {escape(board.generated)} (UTC) by finebench {escape(finebench.__version__)} from "
        f"{len(board.runs)} result file(s). Values in percent; bold best, underlined second best among measured rows; "
        f"{MISSING} not run; † scored on a --limit sample (not ranked); ‡ some samples failed (n_errors, scored as "
        f"wrong); n: items per task (hover a cell for its interval); "
        f"# ranks by the overall average; grey italic rows are the paper's reported numbers, not measured; "
        f"[SS: encoder] marks SS_relative from another text encoder than the paper's SigLIP (not ranked). "
        f"Averages first; the model column stays put while the datasets scroll.</p>",
    ]
    if board.n_resamples:
        parts.append(
            f"<p>± is half the {CONFIDENCE:.0%} bootstrap percentile interval ({board.n_resamples} resamples over items, "
            f"seed {board.seed}); * marks a best value significantly above every runner-up (paired bootstrap, "
            f"p &lt; {SIGNIFICANCE_LEVEL}). Click a column header to sort.</p>"
        )
    parts += [f"<p><em>{escape(note)}</em></p>" for note in board.notes]
    if explorer:
        parts.append(f'<p><a href="{escape(explorer)}">Per-sample explorer</a>: every answer, its &lt;think&gt;, filters by class, confusion and run.</p>')
    current = None
    for table in board.tables:
        if table.setting != current:
            current = table.setting
            parts += [f"<h2>{escape(current.label)}</h2>", f"<p>{escape(setting_description(current))}</p>"]
        parts += [f"<h3>{escape(table.title)}</h3>", html_table(table)]
        parts += [figure_html(name, png) for name, png in plots.get(table.id, {}).items()]
    if board.general:
        parts += ["<h2>General capability (Appendix F)</h2>", general_html(board.general)]
    parts += ["<h2>Runs</h2>", runs_html(board.runs)]
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
