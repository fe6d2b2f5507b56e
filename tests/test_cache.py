"""The response cache: keys, transactions, reopening."""

from __future__ import annotations

from finebench.evaluation.cache import ResponseCache, response_key


def test_keys_change_with_everything_that_can_change_a_response():
    base = dict(model_fingerprint="m", task_hash="t", doc_id=1, trial=None, gen_kwargs={"max_new_tokens": 8}, prompt_hash="p")
    key = response_key(**base)
    assert key == response_key(**{**base, "gen_kwargs": {"max_new_tokens": 8}})
    for change in ({"model_fingerprint": "m2"}, {"task_hash": "t2"}, {"doc_id": 2}, {"trial": 0},
                   {"gen_kwargs": {"max_new_tokens": 9}}, {"prompt_hash": "p2"}):
        assert response_key(**{**base, **change}) != key


def test_put_get_and_reopen(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        cache.put_many([("k1", "m", "t", 0, None, "r1"), ("k2", "m", "t", 1, 0, "r2")])
        assert cache.get_many(["k1", "k2", "k3"]) == {"k1": "r1", "k2": "r2"}
    with ResponseCache(path) as cache:
        assert cache.count() == 2
        cache.put_many([("k1", "m", "t", 0, None, "r1b")])
        assert cache.get_many(["k1"]) == {"k1": "r1b"} and cache.count() == 2


def test_many_keys_are_looked_up_in_chunks(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put_many((f"k{i}", "m", "t", i, None, str(i)) for i in range(2500))
        found = cache.get_many(f"k{i}" for i in range(0, 3000))
    assert len(found) == 2500 and found["k2499"] == "2499"


def test_a_failed_batch_writes_nothing(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        try:
            cache.put_many([("k1", "m", "t", 0, None, "ok"), ("k2", "m", "t", 1, None, None)])  # NOT NULL fails
        except Exception:
            pass
        assert cache.count() == 0
