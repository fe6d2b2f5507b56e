"""A clumsy user's inputs: every expected failure is one ``error:`` line naming the file, key or
option, exit 2, no traceback, before any model loads; and per-sample failures never hang a run."""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from finebench.cli import main
from finebench.data.demo import write_demo_data_root
from finebench.models.cards import card_from_mapping
from finebench.util.errors import ConfigError, FinebenchError
from tests.test_leaderboard_support import constant, write_run

MISSING_MODEL = "hf:/nonexistent/checkpoint"
"""Loading it would fail: an error about it means the check came after the model load."""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_demo_data_root(tmp_path_factory.mktemp("demo"), items_per_file=3)


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["finebench", *args])
    with pytest.raises(SystemExit) as exited:  # an uncaught exception (a traceback) fails the test here
        main()
    captured = capsys.readouterr()
    return exited.value.code or 0, captured.out, captured.err


def one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--limit", "0", "--limit"),
    ("--batch-size", "0", "--batch-size"),
    ("--trials", "0", "--trials"),
    ("--protocol", "paper", "--protocol 'paper'"),
    ("--seed", "-1", "--seed"),
    ("--request-order", "random", "--request-order"),
    ("--option-order", "reversed", "--option-order"),
])
def test_run_values_are_checked_before_the_model_loads(monkeypatch, capsys, data_root, tmp_path, option, value, needle):
    code, _, err = cli(monkeypatch, capsys, "run", "-m", MISSING_MODEL, "--tasks", "cub_closed_seen", "--data-root",
                       str(data_root), "-o", str(tmp_path / "out"), option, value)
    one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file(monkeypatch, capsys, data_root, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = cli(monkeypatch, capsys, "run", "-m", MISSING_MODEL, "--tasks", "cub_closed_seen", "--data-root",
                       str(data_root), "-o", str(tmp_path / "file" / "out"))
    one_error_line(code, err, "is a file, not a folder")


def broken_copy(data_root: Path, tmp_path: Path, content: bytes) -> Path:
    root = tmp_path / "root"
    (root / "fine-r1/eval").mkdir(parents=True)
    for f in (data_root / "fine-r1/eval").iterdir():
        (root / "fine-r1/eval" / f.name).write_bytes(f.read_bytes())
    (root / "fine-r1/eval/bird_seen.jsonl").write_bytes(content)
    return root


@pytest.mark.parametrize(("content", "needle"), [
    (b'{"image_path": "caf\xe9.jpg"}\n', "bird_seen.jsonl:1: item file is not UTF-8"),
    (b"", "has no items"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
])
def test_bad_item_files_fail_before_the_model_loads(monkeypatch, capsys, data_root, tmp_path, content, needle):
    root = broken_copy(data_root, tmp_path, content)
    code, _, err = cli(monkeypatch, capsys, "run", "-m", MISSING_MODEL, "--tasks", "cub_closed_seen", "--data-root",
                       str(root), "-o", str(tmp_path / "out"))
    one_error_line(code, err, needle)


def test_import_of_a_non_utf8_or_emptied_release(monkeypatch, capsys, data_root, tmp_path):
    root = broken_copy(data_root, tmp_path, b"\xff\xfe{}\n")
    code, _, err = cli(monkeypatch, capsys, "data", "import-fine-r1", str(root / "fine-r1/eval"), "--data-root",
                       str(tmp_path / "dest"), "--unpinned")
    assert code == 2 and "bird_seen.jsonl:1: item file is not UTF-8" in err and "Traceback" not in err
    (root / "fine-r1/eval/bird_seen.jsonl").write_bytes(b"")
    code, _, err = cli(monkeypatch, capsys, "data", "import-fine-r1", str(root / "fine-r1/eval"), "--data-root",
                       str(tmp_path / "dest"))
    assert code == 2 and "bird_seen.jsonl: sha256" in err and "is not the pinned release's" in err
    assert not (tmp_path / "dest" / "fine-r1").exists()


def test_score_refuses_partial_and_undecodable_predictions(monkeypatch, capsys, data_root, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"doc_id": 0, "response": "<answer>x</answer>"}) + "\n")
    base = ("score", "--task", "cub_closed_seen", "--data-root", str(data_root), "-o", str(tmp_path / "out"))
    code, _, err = cli(monkeypatch, capsys, *base[:1], str(one), *base[1:])
    one_error_line(code, err, "cover 1 of the 3 items", "--allow-partial")
    code, out, err = cli(monkeypatch, capsys, *base[:1], str(one), *base[1:], "--allow-partial")
    assert code == 0 and "coverage: cub_closed_seen 1 of 3 items scored (partial)" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"doc_id": 0, "response": "\xff"}\n')
    code, _, err = cli(monkeypatch, capsys, *base[:1], str(bad), *base[1:])
    one_error_line(code, err, "bad.jsonl:1: predictions is not UTF-8")


def test_markup_characters_in_a_path_are_printed_not_interpreted(monkeypatch, capsys, data_root, tmp_path):
    folder = tmp_path / "[" / "b] [bold red]x"  # the path holds "[/b]", a closing tag with nothing open
    folder.mkdir(parents=True)
    predictions = folder / "p[" / "].jsonl"
    predictions.parent.mkdir()
    predictions.write_text("".join(json.dumps({"doc_id": i, "response": "<answer>x</answer>"}) + "\n" for i in range(3)))
    code, out, err = cli(monkeypatch, capsys, "score", str(predictions), "--task", "cub_closed_seen",
                         "--data-root", str(data_root), "-o", str(folder / "out"))
    assert code == 0, err
    assert "[/b][boldred]x/p[/].jsonl" in "".join(out.split())


def test_deep_json_and_a_full_disk_are_one_line_errors(monkeypatch, capsys, tmp_path):
    run = write_run(tmp_path / "run", "m", {"cub_closed_seen": {"accuracy": constant(4, 0.5)}})
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = cli(monkeypatch, capsys, "leaderboard", str(deep), "-o", str(tmp_path / "lb"))
    one_error_line(code, err, "results.json: JSON nested too deeply")

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("finebench.util.fsutil.atomic_write_bytes", full)
    code, _, err = cli(monkeypatch, capsys, "leaderboard", str(run), "-o", str(tmp_path / "lb"), "--resamples", "0",
                       "--no-plots")
    one_error_line(code, err, "no space left on the device")


def test_a_corrupt_response_cache_says_how_to_rebuild_it(tmp_path, data_root):
    from finebench.evaluation.config import RunConfig
    from finebench.evaluation.evaluator import Evaluator
    from finebench.models.cards import ModelCard
    from tests.fakes import ScriptedAdapter

    cache = tmp_path / "responses.sqlite"
    cache.write_bytes(b"this is not a database at all" * 100)
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "out", cache_path=cache)
    with pytest.raises(FinebenchError, match="responses.sqlite is unreadable .* delete it .* to rebuild"):
        Evaluator(config, ScriptedAdapter(), ModelCard(name="f", adapter="f", model="f")).run()


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("trust_remote_code", "false", "trust_remote_code' must be true or false"),
    ("max_pixels", "lots", "max_pixels' must be a whole number"),
    ("min_pixels", True, "min_pixels' must be a whole number"),
    ("dtype", "fp8", "dtype' must be one of"),
    ("generation", {"max_new_tokens": -5}, "generation.max_new_tokens must be a whole number >= 1"),
    ("generation", {"top_p": 2.5}, "generation.top_p must be a number in (0, 1]"),
    ("generation", {"do_sample": "yes"}, "generation.do_sample must be true or false"),
    ("generation", {"beams": 2}, "generation.beams: unknown generation setting"),
])
def test_card_values_are_typed(key, value, needle):
    with pytest.raises(ConfigError) as refused:
        card_from_mapping({"name": "c", "adapter": "hf", "model": "org/m", key: value}, "baselines/c.yaml")
    assert needle in str(refused.value) and str(refused.value).startswith("baselines/c.yaml")


def run_evaluator_guarded(config, timeout: float = 60.0):
    """The run in a thread: a hang (a FIFO read forever) fails the test instead of blocking it."""
    from finebench.evaluation.evaluator import Evaluator
    from finebench.models.cards import ModelCard
    from tests.fakes import CharGramEncoder, ScriptedAdapter

    outcome: dict = {}

    def target():
        outcome["results"] = Evaluator(config, ScriptedAdapter(), ModelCard(name="f", adapter="f", model="f"),
                                       encoder_loader=lambda spec: CharGramEncoder()).run()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():  # unblock a reader stuck opening a FIFO, so the test fails instead of hanging
        for fifo in Path(config.data_root).glob("*.jpg"):
            if fifo.is_fifo():
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout)
        raise AssertionError("the run hung on a FIFO")
    return outcome["results"]


def test_fifos_folders_and_escaping_image_paths_are_per_sample_errors(tmp_path):
    from finebench.evaluation.config import RunConfig

    root = write_demo_data_root(tmp_path / "data", items_per_file=6)
    item_file = root / "fine-r1/eval/bird_seen.jsonl"
    rows = [json.loads(line) for line in item_file.read_text().splitlines()]
    os.mkfifo(root / "fifo.jpg")
    (root / "folder.jpg").mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes((root / rows[5]["image_path"]).read_bytes())
    for row, path in zip(rows, ["fifo.jpg", "folder.jpg", str(outside), "../outside.jpg", "/dev/zero"]):
        row["image_path"] = path
    item_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RunConfig(tasks=("cub_closed_seen",), data_root=root, output_path=tmp_path / "out", trials=1)
    results = run_evaluator_guarded(config)
    assert results["results"]["cub_closed_seen"]["n_errors"] == 5
    samples = [json.loads(line) for line in (tmp_path / "out/samples_cub_closed_seen.jsonl").read_text().splitlines()]
    errors = [s["error"] for s in samples]
    assert "not a regular file" in errors[0] and "not a regular file" in errors[1]
    assert all("outside the data root" in e for e in errors[2:5]) and errors[5] is None
    allowed = RunConfig(tasks=("cub_closed_seen",), data_root=root, output_path=tmp_path / "out2", trials=1,
                        allow_outside_data_root=True)
    assert run_evaluator_guarded(allowed)["results"]["cub_closed_seen"]["n_errors"] == 3  # fifo, folder, /dev/zero


def test_the_run_table_flags_tasks_with_failed_samples(capsys):
    from finebench.cli.evaluate import _print_results

    row = {"accuracy": 50.0, "accuracy_std": 0.0, "no_answer": 0.0, "n": 4, "n_samples": 4}
    _print_results({"model": {"name": "m [/b]"}, "results": {"cub_closed_seen": {**row, "n_errors": 2},
                                                             "cars_closed_seen": {**row, "n_errors": 0}}})
    out = capsys.readouterr().out
    assert "2 !" in out and "samples failed and count as wrong in cub_closed_seen" in out and "m [/b]" in out
