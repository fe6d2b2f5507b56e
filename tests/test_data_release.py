"""Importing the released item files and checking images before a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from finebench.data.check import check_task_images, image_status
from finebench.data.demo import write_demo_data_root
from finebench.data.release import RELEASE_FILES, import_release, validate_release
from finebench.tasks.index import TaskIndex
from finebench.util.errors import FinebenchError

RELEASE = Path(__file__).resolve().parents[2] / "shared" / "fine-r1-release" / "eval"
needs_release = pytest.mark.skipif(not RELEASE.is_dir(), reason="the Fine-R1 release is not next to the checkout")


@needs_release
def test_the_real_release_validates_and_imports(tmp_path):
    report = import_release(RELEASE, tmp_path)
    assert sum(report.rows.values()) == 35566
    assert report.rows["bird_seen.jsonl"] == 3483
    for name in RELEASE_FILES:
        assert (tmp_path / "fine-r1/eval" / name).read_bytes() == (RELEASE / name).read_bytes()
    # every shipped task finds its items in the imported root
    index = TaskIndex()
    for task in index.expand(["fgvr"]):
        assert (tmp_path / index.load(task).source).is_file()


def small_release(tmp_path: Path) -> Path:
    demo = write_demo_data_root(tmp_path / "demo", items_per_file=3)
    return demo / "fine-r1/eval"


def test_a_bad_row_is_named_and_nothing_is_written(tmp_path):
    src = small_release(tmp_path)
    root = tmp_path / "root"
    import_release(src, root)
    before = (root / "fine-r1/eval/pet_seen.jsonl").read_text()
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    rows = (bad / "pet_seen.jsonl").read_text().splitlines()
    row = json.loads(rows[1])
    row["ground_truth"] = "Not An Option"
    rows[1] = json.dumps(row)
    (bad / "pet_seen.jsonl").write_text("\n".join(rows) + "\n")
    (bad / "dog_unseen.jsonl").write_text("{broken\n")
    with pytest.raises(FinebenchError) as info:
        import_release(bad, root)
    message = str(info.value)
    assert "pet_seen.jsonl:2: ground_truth 'Not An Option' is not among the options" in message
    assert "dog_unseen.jsonl:1: invalid JSON" in message
    assert "nothing was written" in message
    assert (root / "fine-r1/eval/pet_seen.jsonl").read_text() == before
    assert not [p for p in (root / "fine-r1").iterdir() if p.name.startswith(".")]


def test_missing_files_and_wrong_folders_are_reported(tmp_path):
    src = small_release(tmp_path)
    (src / "car_seen.jsonl").unlink()
    with pytest.raises(FinebenchError, match="missing release file\\(s\\) car_seen.jsonl"):
        validate_release(src)
    with pytest.raises(FinebenchError, match="not a folder"):
        validate_release(tmp_path / "nope")


def test_check_counts_missing_and_corrupt_images(tmp_path):
    root = write_demo_data_root(tmp_path, items_per_file=4)
    task = TaskIndex().load("aircraft_open_unseen")
    items = [json.loads(l) for l in (root / task.source).read_text().splitlines()]
    (root / items[0]["image_path"]).unlink()
    data = (root / items[1]["image_path"]).read_bytes()
    (root / items[1]["image_path"]).write_bytes(data[: len(data) // 2])  # truncated JPEG
    report = check_task_images(task, root)
    assert report.n_images == 4
    assert report.missing == [items[0]["image_path"]]
    assert report.corrupt == [items[1]["image_path"]]
    assert not report.ok
    assert image_status(root / items[2]["image_path"]) == "ok"
