"""Item-file parsing: every bad row is named by file and line."""

from __future__ import annotations

import json

import pytest

from finebench.tasks.items import item_to_row, load_items, parse_item
from finebench.util.errors import ItemFileError

GOOD = {"image_path": "a/b.jpg", "question": "What bird?", "options": ["A", "B", "C", "D"], "ground_truth": "A"}


def write(tmp_path, rows):
    path = tmp_path / "items.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_good_rows_get_positional_doc_ids_and_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path, [GOOD, "", {**GOOD, "ground_truth": "B"}])
    items = load_items(path)
    assert [i.doc_id for i in items] == [0, 1]
    assert items[1].ground_truth == "B" and items[1].options == ("A", "B", "C", "D")
    assert item_to_row(items[0]) == GOOD


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "question"}, "missing key(s) question"),
        ({**GOOD, "options": ["A", "B", "C"]}, "has 3 entries, expected 4"),
        ({**GOOD, "options": "A,B,C,D"}, "must be a list"),
        ({**GOOD, "options": ["A", "B", "C", ""]}, "must be a list of non-empty strings"),
        ({**GOOD, "options": ["A", "A", "C", "D"]}, "duplicate"),
        ({**GOOD, "ground_truth": "E"}, "is not among the options"),
        ({**GOOD, "image_path": 3}, "'image_path' must be a non-empty string"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_rows_are_reported_with_file_and_line(tmp_path, row, message):
    path = write(tmp_path, [GOOD, row])
    with pytest.raises(ItemFileError) as info:
        load_items(path)
    assert f"{path}:2:" in str(info.value)
    assert message in str(info.value)


def test_invalid_json_and_missing_file(tmp_path):
    path = write(tmp_path, ["{not json"])
    with pytest.raises(ItemFileError, match=r"items.jsonl:1: invalid JSON"):
        load_items(path)
    with pytest.raises(ItemFileError, match="cannot read item file"):
        load_items(tmp_path / "absent.jsonl")


def test_option_count_can_be_relaxed_for_custom_variants():
    item = parse_item({**GOOD, "options": ["A", "B"]}, 0, n_options=None)
    assert item.options == ("A", "B")
