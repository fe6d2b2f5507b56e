"""Stage-1 / Stage-2 formats: the released file, round trips, bad samples, embedded parquet images."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from finebench.data.formats import (
    STAGE1_SYSTEM_PROMPT,
    BadSampleWarning,
    DataFormatError,
    SampleProblem,
    Stage1Sample,
    Stage2Sample,
    check_stage1,
    enforce_policy,
    extract_answer,
    load_stage1,
    load_stage2,
    stage2_row,
    write_stage1,
    write_stage2,
)

RELEASE = Path(__file__).resolve().parents[2] / "shared" / "fine-r1-release"
RELEASED_STAGE1 = RELEASE / "sft" / "Fine-R1-Stage1-data.json"


def sample(answer: str = "Laysan Albatross", image: str = "a.jpg") -> Stage1Sample:
    response = f"<think>white head</think>\n\n<answer>{answer}</answer>"
    return Stage1Sample("<image>What bird is this?", response, (image,))


@pytest.mark.skipif(not RELEASED_STAGE1.is_file(), reason="the Fine-R1 release is not in ../shared")
def test_released_stage1_file_loads_and_round_trips(tmp_path: Path) -> None:
    samples = load_stage1(RELEASED_STAGE1)
    assert len(samples) == 404
    assert {s.system for s in samples} == {STAGE1_SYSTEM_PROMPT}
    assert all(s.prompt.startswith("<image>") and len(s.images) == 1 for s in samples)
    assert all(s.answer() for s in samples)
    assert re.fullmatch(r"<think>.*</think>\n\n<answer>.+</answer>", samples[0].response, re.DOTALL)
    write_stage1(tmp_path / "copy.json", samples)
    assert json.loads((tmp_path / "copy.json").read_text()) == json.loads(RELEASED_STAGE1.read_text())
    # Images are not there: every sample is reported, by index, none silently.
    problems = check_stage1(samples, tmp_path)
    assert [p.index for p in problems] == list(range(404))


def test_chat_messages_put_the_image_where_the_marker_is() -> None:
    s = Stage1Sample("Look: <image> which bird?", "<answer>x</answer>", ("a.jpg",), system=None)
    user = s.chat_messages()[0]
    assert user == {"role": "user", "content": [
        {"type": "text", "text": "Look: "}, {"type": "image"}, {"type": "text", "text": " which bird?"}]}
    assert s.chat_messages()[1]["content"] == [{"type": "text", "text": "<answer>x</answer>"}]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"images": []}, "'messages' must be a list"),
        ({"messages": [{"role": "user", "content": "q"}]}, "expected roles"),
        ({"messages": [{"role": "user", "content": "<image>q"}, {"role": "assistant", "content": "a"}], "images": []},
         "1 <image> marker(s) for 0 image(s)"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}, "string 'content'"),
    ],
)
def test_structurally_bad_stage1_sample_names_file_and_index(tmp_path: Path, row: dict, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([sample().to_row(), row]))
    with pytest.raises(DataFormatError, match=rf"bad.json: sample 1: .*{re.escape(message)}"):
        load_stage1(path)


def test_content_problems_are_reported_with_their_index(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    samples = [
        sample(),
        sample(image="missing.jpg"),
        Stage1Sample("<image>q", "<think>no answer tag</think>", ("a.jpg",)),
        sample(answer="Boeing 747"),
        Stage1Sample("<image>q", "<think>t</think><answer>  </answer>", ("a.jpg",)),
    ]
    problems = check_stage1(samples, tmp_path, classes=["Laysan Albatross"])
    assert [(p.index, p.reason.split(":")[0].split(" ")[0]) for p in problems] == [
        (1, "image"), (2, "no"), (3, "label"), (4, "no")]
    assert "missing.jpg" in str(problems[0]) and str(problems[0]).startswith("sample 1: ")
    assert "'Boeing 747' is not in the class list" in problems[2].reason

    with pytest.raises(DataFormatError) as refused:
        enforce_policy(samples, problems, "error", "data.json")
    assert all(f"sample {i}:" in str(refused.value) for i in (1, 2, 3, 4))
    with pytest.warns(BadSampleWarning, match="skipped 4 bad sample") as warned:
        kept = enforce_policy(samples, problems, "skip", "data.json")
    assert kept == [samples[0]]
    assert all(f"sample {i}:" in str(warned[0].message) for i in (1, 2, 3, 4))
    with pytest.raises(ValueError, match="on_bad_sample"):
        enforce_policy(samples, problems, "ignore", "data.json")


def test_extract_answer_takes_the_first_non_empty_tag() -> None:
    assert extract_answer("<think>x</think>\n\n<answer> Sooty Albatross </answer>") == "Sooty Albatross"
    assert extract_answer("<answer></answer>") is None
    assert extract_answer("no tags") is None


def test_stage2_json_and_jsonl_round_trip_with_relative_paths(tmp_path: Path) -> None:
    samples = [Stage2Sample("<image>What bird?", "Laysan Albatross", "a.jpg", "b.jpg", "c.jpg")]
    assert stage2_row(samples[0]) == {"problem": "<image>What bird?", "answer": "Laysan Albatross",
                                      "images": ["a.jpg"], "image_noisy": ["b.jpg"], "image_aug": ["c.jpg"]}
    for name in ("s.json", "s.jsonl"):
        write_stage2(tmp_path / name, samples)
        loaded = load_stage2(tmp_path / name)
        assert loaded == [Stage2Sample("<image>What bird?", "Laysan Albatross",
                                       str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), str(tmp_path / "c.jpg"))]
        assert load_stage2(tmp_path / name, image_root=Path("/data"))[0].image_negative == "/data/c.jpg"
    with pytest.raises(DataFormatError, match=r"written as \.json or \.jsonl"):
        write_stage2(tmp_path / "s.csv", samples)


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_released_parquet_layout_with_embedded_images_is_extracted(tmp_path: Path) -> None:
    """The Hub release: data/train-*.parquet, image columns are lists of {bytes, path} structs."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [
        {"images": [{"bytes": png_bytes((255, 0, 0)), "path": None}], "problem": "<image>Which bird?",
         "answer": "Sooty Albatross", "image_noisy": [{"bytes": png_bytes((250, 0, 0)), "path": None}],
         "image_aug": [{"bytes": png_bytes((0, 0, 255)), "path": None}]},
    ]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows * 2), tmp_path / "data" / "validation-00000-of-00001.parquet")

    loaded = load_stage2(tmp_path / "data")
    assert len(loaded) == 1 and loaded[0].answer == "Sooty Albatross"
    for path in (loaded[0].image, loaded[0].image_positive, loaded[0].image_negative):
        assert Path(path).parent == tmp_path / "data.images" and path.endswith(".png")
    with Image.open(loaded[0].image_negative) as image:
        assert image.getpixel((0, 0)) == (0, 0, 255)
    assert len(load_stage2(tmp_path / "data", split="validation")) == 2
    assert load_stage2(tmp_path / "data") == loaded  # extraction is idempotent


GOOD_ROW = {"problem": "q", "answer": "a", "images": ["x"], "image_noisy": ["b"], "image_aug": ["c"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"images": ["x.jpg", "y.jpg"]}, "'images' must hold exactly one image, got 2"),
        ({"answer": ""}, "'answer'"),
        ({"image_aug": 5}, "'image_aug' must be an image path"),
        ({"image_aug": None}, "missing key 'image_aug' (the negative: an image of the most similar other class)"),
        ({"image_noisy": []}, "missing key 'image_noisy' (the positive: another image of the same class)"),
    ],
)
def test_bad_stage2_rows_name_file_and_index(tmp_path: Path, changes: dict, message: str) -> None:
    lines = [json.dumps(GOOD_ROW), json.dumps({**GOOD_ROW, **changes})]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=rf"s.jsonl: sample 1: .*{re.escape(message)}"):
        load_stage2(tmp_path / "s.jsonl")


def test_a_stage2_row_without_its_positive_column_is_named(tmp_path: Path) -> None:
    row = {key: value for key, value in GOOD_ROW.items() if key != "image_noisy"}
    (tmp_path / "s.json").write_text(json.dumps([GOOD_ROW, row]))
    with pytest.raises(DataFormatError, match=r"s.json: sample 1: missing key 'image_noisy' \(the positive"):
        load_stage2(tmp_path / "s.json")


def test_missing_stage2_images_are_listed_with_sample_and_column(tmp_path: Path) -> None:
    from finebench.data.formats import check_stage2_images

    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    rows = [{**GOOD_ROW, "images": ["x.png"], "image_noisy": ["b.png"], "image_aug": ["x.png"]},
            {**GOOD_ROW, "images": ["x.png"], "image_noisy": ["gone.png"], "image_aug": ["c.png"]}]
    (tmp_path / "s.json").write_text(json.dumps(rows))
    samples = load_stage2(tmp_path / "s.json")
    with pytest.raises(DataFormatError) as caught:
        check_stage2_images(samples, tmp_path / "s.json")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 's.json'}: 2 image(s) not found")
    assert f"sample 1: key 'image_noisy' (the positive): {tmp_path / 'gone.png'}" in message
    assert f"sample 1: key 'image_aug' (the negative): {tmp_path / 'c.png'}" in message
    assert "sample 0" not in message
    check_stage2_images(samples[:1], tmp_path / "s.json")  # all present: no error


def test_undecodable_embedded_image_names_file_and_index(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    good = {**GOOD_ROW, "image_noisy": [{"bytes": png_bytes((1, 2, 3))}]}
    bad = {**GOOD_ROW, "image_noisy": [{"bytes": b"junk"}]}
    pq.write_table(pa.Table.from_pylist([good, bad]), tmp_path / "s.parquet")
    with pytest.raises(DataFormatError, match=r"s\.parquet: sample 1: key 'image_noisy': embedded image cannot be"):
        load_stage2(tmp_path / "s.parquet")


def test_stage2_missing_or_empty_sources_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file or folder"):
        load_stage2(tmp_path / "nope.json")
    with pytest.raises(DataFormatError, match=r"no train\*"):
        load_stage2(tmp_path)
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid json"):
        load_stage2(tmp_path / "s.json")


def test_sample_problem_reads_like_a_report_line() -> None:
    assert str(SampleProblem(7, "image not found: x.jpg")) == "sample 7: image not found: x.jpg"
