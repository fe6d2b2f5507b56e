"""Leaderboard and analysis of finished runs: paper-layout tables, bootstrap confidence intervals,
paired tests, CircularEval position bias, per-task error analysis, plots and a static HTML page.

Everything here reads ``results.json`` and ``samples_<task>.jsonl`` files only; no model is loaded.

May import: everything below it except cli.
"""
