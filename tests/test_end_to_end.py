"""The real CLI in subprocesses with the tiny offline model: the README demo, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finebench.data.demo import write_demo_data_root

pytestmark = pytest.mark.slow



def cli(args: list[str], home: Path, cwd: Path, **kwargs):
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "finebench", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_the_readme_demo_runs_offline_end_to_end(home, tmp_path):
    proc = cli(["run"], home, tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    results = json.loads((tmp_path / "finebench-out" / "demo" / "results.json").read_text())
    assert len(results["results"]) == 24
    assert results["model"]["name"] == "tiny-qwen2.5-vl"
    assert {meta["generated"] for meta in results["tasks"].values()} == {"demo"}  # kept off the paper tables
    assert "fgvr" in results["groups"] and results["groups"]["fgvr"]["n_tasks"] == 24
    assert "ss_relative" in results["results"]["cub_open_seen"]
    samples = (tmp_path / "finebench-out" / "demo" / "samples_aircraft_open_unseen.jsonl").read_text().splitlines()
    row = json.loads(samples[0])
    assert isinstance(row["response"], str) and row["error"] is None
    assert (home / ".cache" / "finebench" / "demo" / "fine-r1" / "eval" / "bird_seen.jsonl").is_file()


def cache_rows(db: Path) -> dict[str, tuple[str, float]]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return {k: (r, c) for k, r, c in conn.execute("SELECT key, response, created FROM responses")}
    except sqlite3.OperationalError:  # table not created yet
        return {}


def test_a_killed_run_resumes_without_loss_or_duplicates(home, tmp_path):
    root = write_demo_data_root(tmp_path / "data", items_per_file=16)
    args = ["run", "--model", "tiny-qwen2.5-vl", "--tasks", "cub_closed_seen,pets_open_seen", "--data-root", str(root),
            "--batch-size", "1", "--trials", "1", "--metrics", "accuracy,inclusion"]
    out = tmp_path / "killed"
    victim = cli([*args, "--output-path", str(out)], home, tmp_path)
    deadline = time.monotonic() + 300
    while len(cache_rows(out / "responses.sqlite")) < 3:
        assert victim.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    before = cache_rows(out / "responses.sqlite")
    assert 3 <= len(before) < 32

    resumed = cli([*args, "--output-path", str(out)], home, tmp_path)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    after = cache_rows(out / "responses.sqlite")
    assert len(after) == 32
    assert all(after[k] == v for k, v in before.items()), "finished work was regenerated"

    clean = cli([*args, "--output-path", str(tmp_path / "clean")], home, tmp_path)
    _, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err
    killed_results = json.loads((out / "results.json").read_text())
    clean_results = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert killed_results["results"] == clean_results["results"]
    for task in ("cub_closed_seen", "pets_open_seen"):
        rows = (out / f"samples_{task}.jsonl").read_text()
        assert rows == (tmp_path / "clean" / f"samples_{task}.jsonl").read_text()
        assert sorted(json.loads(r)["doc_id"] for r in rows.splitlines()) == list(range(16))
