"""`finebench view`: the explorer folder (data, escaping, thumbnails) and, in headless Chromium over
file://, that the filters change the visible items and that markup in a response stays text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from finebench.cli import app
from finebench.leaderboard.explorer.collect import load_run, majority
from finebench.leaderboard.explorer.thumbs import THUMB_SIDE, inside, make_thumbnails
from finebench.leaderboard.explorer.write import script_json, write_explorer
from tests.chromium import CHROMIUM, Chromium

CLASSES = ["Red Square", "Blue Circle", "<b>Bold</b> Finch", "Green Cross"]
INJECTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
N_CLOSED, N_OPEN = 40, 10


def closed_item(i: int) -> tuple[str, list[str]]:
    truth = CLASSES[i % 4]
    return truth, [truth] + [c for c in CLASSES if c != truth]


def write_data(root: Path) -> None:
    """Images (one per item, one path escaping the root) and the closed task's item file."""
    images = root / "img"
    images.mkdir(parents=True)
    for i in range(N_CLOSED + N_OPEN):
        Image.new("RGB", (640 if i else 4000, 480 if i else 3000), (i * 5 % 256, 90, 160)).save(images / f"{i}.png")
    rows = []
    for i in range(N_CLOSED):
        truth, options = closed_item(i)
        rows.append({"image_path": f"img/{i}.png", "question": f"Which class is item {i}? {INJECTED if i == 1 else ''}",
                     "options": options, "ground_truth": truth})
    (root / "eval").mkdir()
    (root / "eval" / "closed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_run(folder: Path, name: str, data_root: Path, right) -> Path:
    """Task t_closed (accuracy): item i right when right(i), else it picks the next class (a
    confusion pair); item 5 has no answer, item 7 failed; item 1's response is an injection.
    Task t_open (inclusion): 10 items, 2 trials each, the first half right."""
    folder.mkdir(parents=True)
    closed, opened = [], []
    for i in range(N_CLOSED):
        truth, options = closed_item(i)
        wrong = CLASSES[(i + 1) % 4]
        answer = truth if right(i) else wrong
        no_answer = i == 5 and not right(i)
        error = "CUDA out of memory <i>oops</i>" if i == 7 and not right(i) else None
        response = f"<think>It looks like {answer}.</think><answer>{answer}</answer>"
        if i == 1:
            response = f"<think>{INJECTED}</think><answer>{answer}</answer>"
        closed.append({"doc_id": i, "trial": 0, "image_path": f"img/{i}.png" if i != 3 else "../../../etc/passwd",
                       "options": options, "target": truth, "response": None if error else response,
                       "answer": None if (no_answer or error) else answer, "no_answer": no_answer or bool(error),
                       "scores": {"accuracy": float(answer == truth and not no_answer and not error)}, "error": error})
    for i in range(N_OPEN):
        for trial in range(2):
            ok = i < N_OPEN // 2
            opened.append({"doc_id": i, "trial": trial, "image_path": f"img/{N_CLOSED + i}.png", "options": [],
                           "target": "Red Square", "response": f"<answer>{'red square' if ok else 'blue'}</answer>",
                           "answer": "red square" if ok else "blue", "no_answer": False,
                           "scores": {"inclusion": float(ok)}, "error": None})
    results = {
        "model": {"name": name}, "config": {"data_root": str(data_root)},
        "results": {"t_closed": {"accuracy": 0.0, "n": N_CLOSED}, "t_open": {"inclusion": 0.0, "n": N_OPEN}},
        "tasks": {"t_closed": {"world": "closed", "metrics": ["accuracy"], "source": "eval/closed.jsonl"},
                  "t_open": {"world": "open", "metrics": ["inclusion"], "source": "eval/missing.jsonl"}},
    }
    (folder / "results.json").write_text(json.dumps(results))
    for task, rows in (("t_closed", closed), ("t_open", opened)):
        (folder / f"samples_{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer")
    data = root / "data"
    write_data(data)
    a = write_run(root / "a", "model-a", data, lambda i: i % 2 == 0)
    b = write_run(root / "b", "model-b", data, lambda i: i % 3 == 0)
    out = root / "out"
    report = write_explorer([a, b], out)
    return out, report, (a, b)


def test_folder_layout_thumbnails_and_index(explorer):
    out, report, _ = explorer
    assert report.n_items == N_CLOSED + N_OPEN and report.n_runs == 2
    assert {p.name for p in out.iterdir()} == {"index.html", "explorer.js", "explorer.css", "data", "thumbs"}
    assert report.thumbs.missing == ["../../../etc/passwd"]  # never read from outside the data root
    thumbs = sorted((out / "thumbs").iterdir())
    assert len(thumbs) == N_CLOSED + N_OPEN - 1
    for thumb in thumbs:
        with Image.open(thumb) as image:
            assert image.format == "JPEG" and max(image.size) <= THUMB_SIDE
    assert max(p.stat().st_size for p in thumbs) < 20_000  # the 4000x3000 original is not copied
    index = json.loads((out / "data" / "index.js").read_text()[len("FB.index("):-3])
    assert [t["name"] for t in index["tasks"]] == ["t_closed", "t_open"]
    assert index["run_items"][0]["score"][:4] == [100, 0, 100, 0]
    assert index["items"]["thumb"][3] == ""


def test_script_json_cannot_close_a_script_or_start_markup():
    text = script_json({"r": "</script><script>alert(1)</script>&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"r": "</script><script>alert(1)</script>&\u2028"}


def test_collect_majority_and_trials(explorer):
    from finebench.leaderboard.explorer.collect import run_item

    _, _, (a, _) = explorer
    label_set = [f"class {i}" for i in range(200)]
    item = run_item([{"doc_id": 0, "trial": 0, "options": label_set, "target": "class 7", "answer": "class 150",
                      "scores": {"accuracy": 0.0}}], "accuracy")
    assert item.trials[0].options == ["class 7", "class 150"] and item.trials[0].n_options == 200
    run = load_run(a)
    assert run.items[("t_open", 0)].score == 1.0 and len(run.items[("t_open", 0)].trials) == 2
    assert run.items[("t_closed", 7)].error and run.items[("t_closed", 5)].no_answer
    assert majority([None, "b", "a", "a"]) == "a" and majority(["b", "a"]) == "b" and majority([None]) is None


def test_thumbnail_paths_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", root / "link.png")
    assert inside(root, "../secret.png") is None
    assert inside(root, "/etc/passwd") is None
    assert inside(root, "link.png") is None  # a symlink out of the root
    assert inside(root, "a/../b.png") == (root / "b.png").resolve()
    (root / "broken.png").write_bytes(b"not an image")
    names, report = make_thumbnails({"broken.png", "nothing.png"}, root, tmp_path / "thumbs")
    assert names == {} and sorted(report.missing) == ["broken.png", "nothing.png"]


def test_rebuild_reuses_thumbnails_and_never_writes_into_a_foreign_folder(explorer, tmp_path):
    from finebench.util.errors import FinebenchError

    out, _, (a, b) = explorer
    again = write_explorer([a, b], out)
    assert again.thumbs.made == 0 and again.thumbs.reused == N_CLOSED + N_OPEN - 1
    foreign = tmp_path / "somewhere"
    (foreign / "data").mkdir(parents=True)
    (foreign / "data" / "precious.txt").write_text("keep")
    with pytest.raises(FinebenchError, match="not an explorer folder"):
        write_explorer([a], foreign)
    assert (foreign / "data" / "precious.txt").read_text() == "keep"


def test_cli_builds_and_names_bad_input(explorer, tmp_path):
    _, _, (a, b) = explorer
    runner = CliRunner()
    result = runner.invoke(app, ["view", str(a), str(b), "--out", str(tmp_path / "v"), "--no-thumbnails", "--tasks", "t_open"])
    assert result.exit_code == 0, result.output
    assert "explorer: 10 items of 2 run(s)" in result.output and not (tmp_path / "v" / "thumbs").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    mismatch = runner.invoke(app, ["view", str(a), "--label", "x", "--label", "y", "--out", str(tmp_path / "m")])
    assert mismatch.exit_code != 0 and "--label given 2 time(s) for 1 run(s)" in str(mismatch.exception)
    bad = subprocess.run([sys.executable, "-m", "finebench", "view", str(tmp_path / "bad"), "--out", str(tmp_path / "w")],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert bad.returncode == 2 and "invalid JSON" in bad.stderr and "Traceback" not in bad.stderr


def test_leaderboard_links_the_explorer(tmp_path):
    from finebench.cli.leaderboard import leaderboard_command
    from tests.test_leaderboard_support import full_run

    a = full_run(tmp_path / "a", "model-a", 0.7, n=12)
    b = full_run(tmp_path / "b", "model-b", 0.5, n=12)
    bare = full_run(tmp_path / "c", "model-c", 0.5, n=12)
    for samples in bare.glob("samples_*.jsonl"):
        samples.unlink()
    out = tmp_path / "lb"
    leaderboard_command([a, b, bare], out, baselines=tmp_path / "no-cards", resamples=0, plots=False, explorer=True)
    assert '<a href="explorer/index.html">Per-sample explorer</a>' in (out / "index.html").read_text()
    index = (out / "explorer" / "data" / "index.js").read_text()
    assert '"label":"model-a"' in index and '"label":"model-b"' in index and index.count('"label"') == 2


def test_serve_binds_localhost_only(explorer):
    import threading
    import urllib.request

    from finebench.cli.view import make_server

    out, _, _ = explorer
    with make_server(out, 0) as server:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10).read().decode()
        finally:
            server.shutdown()
    assert '<script src="data/index.js"' in page


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")


def show(browser: Chromium, page: Path, fragment: str) -> dict:
    """Open the page at ``fragment`` and return what it shows once rendered (a fragment change
    re-renders the open page; the state is marked stale first so that the old render does not count)."""
    browser.evaluate("document.body && (document.body.dataset.state = 'stale')")
    browser.navigate(page.as_uri() + "#" + fragment)
    browser.wait_for("document.body && ['ready', 'failed'].includes(document.body.dataset.state)")
    return browser.evaluate("""({
        count: +document.getElementById('summary').dataset.count,
        cards: Array.from(document.querySelectorAll('#grid article.card')).map(c => +c.dataset.item),
        truths: Array.from(document.querySelectorAll('#grid .truth .class-name')).map(n => n.textContent),
        state: document.body.dataset.state
    })""")


@needs_chromium
def test_filters_change_the_visible_items_in_chromium(explorer, tmp_path):
    out, _, _ = explorer
    page = out / "index.html"
    with Chromium(tmp_path / "profile") as browser:
        everything = show(browser, page, "a=0&b=1")
        assert everything["state"] == "ready" and everything["count"] == N_CLOSED + N_OPEN
        assert len(everything["cards"]) == 30  # one page
        wrong = show(browser, page, "a=0&b=1&task=t_closed&status=wrong")
        assert wrong["count"] == 20 and all(i % 2 for i in wrong["cards"])
        fixed = show(browser, page, "a=0&b=1&task=t_closed&status=fixed")  # A wrong, B right
        assert fixed["cards"] == [i for i in range(N_CLOSED) if i % 2 and i % 3 == 0]
        broken = show(browser, page, "a=0&b=1&task=t_closed&status=broken")
        assert broken["count"] == sum(1 for i in range(N_CLOSED) if i % 2 == 0 and i % 3)
        bold = show(browser, page, "a=0&b=-1&task=t_closed&cls=" + "%3Cb%3EBold%3C%2Fb%3E%20Finch")
        assert bold["count"] == 10 and set(bold["truths"]) == {"<b>Bold</b> Finch"}
        pair = show(browser, page, "a=0&b=-1&pt=Blue%20Circle&pp=%3Cb%3EBold%3C%2Fb%3E%20Finch")  # A's confusion pair
        assert pair["cards"] == [i for i in range(N_CLOSED) if i % 4 == 1 and i != 5]  # item 5 gave no answer
        assert show(browser, page, "a=0&b=-1&status=noanswer")["cards"] == [5, 7]
        assert show(browser, page, "a=0&b=-1&status=error")["cards"] == [7]
        opened = show(browser, page, "a=1&b=-1&task=t_open&status=right")
        assert opened["cards"] == list(range(N_CLOSED, N_CLOSED + 5))

        # the controls drive the same filters through the URL
        show(browser, page, "a=0&b=1")
        browser.evaluate("(() => { const s = document.getElementById('f-task'); s.value = 't_closed';"
                         " s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.body.dataset.state === 'ready' && location.hash.includes('task=t_closed')")
        browser.evaluate("(() => { const s = document.getElementById('f-status'); s.value = 'broken';"
                         " s.dispatchEvent(new Event('change')); })()")
        browser.wait_for("document.body.dataset.state === 'ready' && location.hash.includes('status=broken')")
        assert browser.evaluate("+document.getElementById('summary').dataset.count") == broken["count"]
        pairs = browser.evaluate("Array.from(document.getElementById('f-pair').options).map(o => o.textContent)")
        assert "Blue Circle → <b>Bold</b> Finch (9)" in pairs
        browser.evaluate("document.getElementById('next').click()")  # paging
        show(browser, page, "a=0&b=1&page=2")
        assert browser.evaluate("document.getElementById('page').textContent") == "page 2 of 2"
        assert len(browser.evaluate("Array.from(document.querySelectorAll('#grid article'))")) == N_CLOSED + N_OPEN - 30


@needs_chromium
def test_injected_markup_stays_text_in_chromium(explorer, tmp_path):
    out, _, _ = explorer
    with Chromium(tmp_path / "profile") as browser:
        shown = show(browser, out / "index.html", "a=0&b=1&task=t_closed")
        assert 1 in shown["cards"] and 7 in shown["cards"]
        browser.wait_for("Array.from(document.querySelectorAll('#grid img.thumb'))"
                         ".filter(i => i.getBoundingClientRect().bottom < innerHeight).every(i => i.complete)")
        found = browser.evaluate("""({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            scripts: document.querySelectorAll('#grid script, #grid img[src="x"], #grid b, #grid i').length,
            think: Array.from(document.querySelectorAll('article[data-item="1"] details.think pre')).map(p => p.textContent),
            question: document.querySelector('article[data-item="1"] .question').textContent,
            error: document.querySelector('article[data-item="7"] .trial-error').textContent,
            thumbs: Array.from(document.querySelectorAll('#grid img.thumb'))  // lazy: those in view are loaded
                .filter(i => i.getBoundingClientRect().bottom < innerHeight).map(i => i.complete && i.naturalWidth > 0),
            missing: document.querySelector('article[data-item="3"] .nothumb').textContent
        })""")
    assert found["pwned"] is None and found["scripts"] == 0
    assert found["think"] == [INJECTED, INJECTED]  # run A and run B, as text
    assert found["question"].endswith(INJECTED)
    assert found["error"] == "error: CUDA out of memory <i>oops</i>"
    assert len(found["thumbs"]) >= 3 and all(found["thumbs"]) and found["missing"] == "no image"
