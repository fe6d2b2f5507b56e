"""The command line as a user meets it: listing, errors, packaging."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def finebench(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finebench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_ls_lists_tasks_and_groups_name_first_without_importing_torch():
    out = finebench("ls")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert "cub_open_unseen" in names and "fgvr" in names and "synth_closed_unseen" in names
    assert len(lines) == 24 + 8 + 12 + 1  # Fine-R1 and synthetic (base, hard) tasks, then groups
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from finebench.cli import app; from finebench.tasks.index import TaskIndex; "
         "TaskIndex(); print(any(m in sys.modules for m in ('torch', 'transformers', 'rich.progress')))"],
        capture_output=True, text=True,
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_unknown_task_and_model_names_get_suggestions(tmp_path):
    out = finebench("run", "--model", "tiny-qwen2.5-vl", "--tasks", "cub_open_unsen", "--data-root", str(tmp_path),
                    "--output-path", str(tmp_path / "o"))
    assert out.returncode == 2
    assert "did you mean 'cub_open_unseen'" in out.stderr
    out = finebench("run", "--model", "qwen2.5-vl-7", "--tasks", "cub_open_unseen", "--data-root", str(tmp_path),
                    "--output-path", str(tmp_path / "o"))
    assert out.returncode == 2
    assert "did you mean 'qwen2.5-vl-7b'" in out.stderr


def test_half_a_model_spec_is_refused():
    out = finebench("run", "--tasks", "cub_open_unseen")
    assert out.returncode == 2 and "give both --model and --tasks" in out.stderr


def test_models_lists_the_cards():
    out = finebench("models")
    assert out.returncode == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in out.stdout.splitlines()}
    assert rows["tiny-qwen2.5-vl"][1] == "hf" and rows["qwen2.5-vl-7b"][3] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert rows["fine-r1-7b"][4] == "accuracy:12,ss_relative:12,inclusion:12" and rows["clip-l"][4] == "accuracy:12"
    assert rows["tiny-clip"][1:] == ["clip", "test", "builtin:tiny-clip", "-"]


def test_data_check_exit_code(tmp_path):
    assert finebench("data", "demo", "--data-root", str(tmp_path)).returncode == 0
    assert finebench("data", "check", "--tasks", "cub", "--data-root", str(tmp_path)).returncode == 0
    next((tmp_path / "bird_200").rglob("*.jpg")).unlink()
    out = finebench("data", "check", "--tasks", "cub_closed_seen,cub_closed_unseen", "--data-root", str(tmp_path))
    assert out.returncode == 1 and "1 missing" in out.stdout


@pytest.mark.slow
def test_the_wheel_ships_tasks_and_cards_as_package_data(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("finebench-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert "finebench/_data/tasks/cub/cub_open_unseen.yaml" in names
    assert "finebench/_data/tasks/_base.yaml" in names
    assert "finebench/_data/baselines/qwen2.5-vl-7b.yaml" in names
    code = ("import finebench.util.resources as r; from finebench.tasks.index import TaskIndex; from finebench.models.cards import card_files; "
            "print(r.resource_dir('tasks')); print(len(TaskIndex().tasks), TaskIndex().load('cars_open_seen').open_target, "
            "'tiny-qwen2.5-vl' in card_files())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert str(tmp_path / "site" / "finebench" / "_data" / "tasks") in out.stdout
    assert "32 make_model True" in out.stdout  # 24 Fine-R1 tasks and 8 synthetic ones


def test_data_build_writes_a_variant_the_harness_can_run(tmp_path, tiny_clip_dir):
    from tests.test_official_readers import write_cub

    source = write_cub(tmp_path / "CUB_200_2011")
    out = finebench("data", "build", "--dataset", "cub", "--src", str(source), "--out", str(tmp_path / "variant"),
                    "--seed", "3", "--seen-fraction", "0.5", "--encoder", str(tiny_clip_dir))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["distractors"] == f"image:hf:{tiny_clip_dir}"
    out = finebench("data", "build", "--dataset", "cub", "--src", str(source), "--out", str(tmp_path / "variant"),
                    "--seed", "3", "--seen-fraction", "0.5", "--distractors", "random")
    assert out.returncode == 0, out.stderr
    from finebench.tasks.items import load_items

    files = sorted(p.name for p in (tmp_path / "variant").glob("bird_*.jsonl"))
    assert "bird_seen.jsonl" in files and "bird_unseen.jsonl" in files
    assert load_items(tmp_path / "variant" / "bird_seen.jsonl")
    bad = finebench("data", "build", "--dataset", "cubs", "--src", str(source), "--out", str(tmp_path / "v2"))
    assert bad.returncode == 2 and "did you mean 'cub'" in bad.stderr
    bad = finebench("data", "build", "--dataset", "cub", "--src", str(source), "--out", str(tmp_path / "v2"),
                    "--distractors", "nearest")
    assert bad.returncode == 2 and "distractors must be one of hard, random" in bad.stderr


def test_unsupported_tasks_and_strategies_fail_before_anything_loads(tmp_path):
    assert finebench("data", "demo", "--data-root", str(tmp_path)).returncode == 0
    out = finebench("run", "--model", "tiny-clip", "--tasks", "cub", "--data-root", str(tmp_path), "-o", str(tmp_path / "o"))
    assert out.returncode == 2 and "cannot answer open-world tasks: cub_open_seen, cub_open_unseen" in out.stderr
    out = finebench("run", "--model", "tiny-qwen2.5-vl", "--tasks", "cub_closed_seen", "--strategy", "prompt-ensemble",
                    "--data-root", str(tmp_path), "-o", str(tmp_path / "o"))
    assert out.returncode == 2 and "cannot run strategy 'prompt-ensemble'" in out.stderr
    assert not (tmp_path / "o").exists()


def test_general_benchmarks_are_checked_before_the_fgvr_run(tmp_path):
    out = finebench("run", "--model", "tiny-clip", "--tasks", "cub_closed_seen", "--general", "mme", "-o", str(tmp_path / "o"))
    assert out.returncode == 2 and "no lmms-eval equivalent" in out.stderr and not (tmp_path / "o").exists()
    out = finebench("run", "--model", "tiny-qwen2.5-vl", "--general", "mmb", "-o", str(tmp_path / "o"))
    assert out.returncode == 2 and "unknown general benchmark 'mmb'" in out.stderr
