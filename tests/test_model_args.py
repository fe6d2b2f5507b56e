"""--model-args / --gen-kwargs (lm-eval's k=v,k=v) and the bf16 dtype default."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from finebench.adapters import hf
from finebench.adapters.base import normalize_gen_kwargs
from finebench.adapters.factory import apply_model_args
from finebench.data.demo import write_demo_data_root
from finebench.models.cards import ModelCard, resolve_model
from finebench.util.errors import ConfigError, FinebenchError
from finebench.util.kvargs import parse_kv_args


def test_kv_strings_are_typed_as_lm_eval_types_them() -> None:
    assert parse_kv_args("dtype=bfloat16, max_pixels=1003520,trust_remote_code=True,temperature=0.5,", "--x") == {
        "dtype": "bfloat16", "max_pixels": 1003520, "trust_remote_code": True, "temperature": 0.5}
    assert parse_kv_args("", "--x") == {}
    for bad, message in (("dtype", "not key=value"), ("=3", "not key=value"), ("a=1,a=2", "given twice")):
        with pytest.raises(ValueError, match=f"--x: .*{message}"):
            parse_kv_args(bad, "--x")


def test_gen_kwargs_are_checked_and_completed() -> None:
    assert normalize_gen_kwargs({"max_new_tokens": 64, "min_new_tokens": 64}) == {"max_new_tokens": 64, "min_new_tokens": 64}
    assert normalize_gen_kwargs({"temperature": 0.7}) == {"temperature": 0.7, "do_sample": True}
    assert normalize_gen_kwargs({"temperature": 0}) == {"temperature": 0.0, "do_sample": False}
    assert normalize_gen_kwargs({"temperature": 0.7, "do_sample": False})["do_sample"] is False
    for bad, message in (({"max_tokens": 3}, "unknown key.*max_tokens"), ({"max_new_tokens": 2.5}, "an integer"),
                         ({"max_new_tokens": "x"}, "an integer"), ({"do_sample": 1}, "a boolean"),
                         ({"max_new_tokens": 0}, ">= 1"), ({"top_p": 1.5}, r"\(0, 1\]"),
                         ({"min_new_tokens": 9, "max_new_tokens": 3}, "above max_new_tokens"),
                         ({"temperature": -1}, ">= 0")):
        with pytest.raises(FinebenchError, match=f"--gen-kwargs: .*{message}"):
            normalize_gen_kwargs(bad)


def test_model_args_override_the_card_and_the_adapter_options() -> None:
    card = ModelCard(name="m", adapter="hf", model="/x", dtype="bfloat16")
    updated = apply_model_args(card, {"dtype": "float32", "max_pixels": 3136, "attn_implementation": "eager"})
    assert (updated.dtype, updated.max_pixels, updated.adapter_options) == ("float32", 3136, {"attn_implementation": "eager"})
    assert apply_model_args(card, {}) is card
    for bad, message in (({"attn": "sdpa"}, "unknown key.*attn for the hf adapter; known: attn_implementation, dtype"),
                         ({"dtype": "fp8"}, "dtype 'fp8' is not one of"), ({"max_pixels": "big"}, "a positive integer"),
                         ({"min_pixels": 5000, "max_pixels": 4000}, "above max_pixels"),
                         ({"trust_remote_code": "yes"}, "a bool")):
        with pytest.raises(ConfigError, match=f"--model-args: .*{message}"):
            apply_model_args(card, bad)
    vllm_card = ModelCard(name="m", adapter="vllm", model="/x")
    assert apply_model_args(vllm_card, {"max_model_len": 4096}).adapter_options == {"max_model_len": 4096}


def test_auto_dtype_is_bf16_where_the_device_computes_it(monkeypatch) -> None:
    import torch

    card = ModelCard(name="m", adapter="hf", model="/x")
    monkeypatch.setattr(hf, "bf16_supported", lambda device: True)
    assert hf._resolve_dtype(card, "cpu") is torch.bfloat16
    monkeypatch.setattr(hf, "bf16_supported", lambda device: False)
    assert hf._resolve_dtype(card, "cpu") is torch.float32
    assert hf._resolve_dtype(ModelCard(name="m", adapter="hf", model="/x", dtype="float16"), "cpu") is torch.float16
    assert resolve_model("hf:/some/checkpoint").dtype == "auto"
    assert resolve_model("fine-r1-3b").dtype == "bfloat16"



def finebench(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "finebench", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow  # three CLI runs (~30 s on 2 busy cores)
def test_run_records_model_args_and_gen_kwargs_and_they_key_the_cache(home: Path, tmp_path: Path) -> None:
    data = write_demo_data_root(tmp_path / "data", items_per_file=3)
    out = tmp_path / "out"
    common = ("run", "--model", "tiny-qwen2.5-vl", "--tasks", "cub_closed_seen", "--trials", "1",
              "--data-root", str(data), "-o", str(out), "--model-args", "dtype=bfloat16")

    def cache_size() -> int:
        with sqlite3.connect(out / "responses.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    done = finebench(home, *common, "--gen-kwargs", "max_new_tokens=3,min_new_tokens=3")
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["model_args"] == {"dtype": "bfloat16"}
    assert results["config"]["gen_kwargs"] == {"max_new_tokens": 3, "min_new_tokens": 3}
    assert results["model"]["settings"]["dtype"] == "bfloat16" and "dtype=bfloat16" in results["model"]["fingerprint"]
    assert results["tasks"]["cub_closed_seen"]["image_rule"] == "qwen-vl-utils"
    assert cache_size() == 3
    assert finebench(home, *common, "--gen-kwargs", "max_new_tokens=3,min_new_tokens=3").returncode == 0
    assert cache_size() == 3  # same settings: served from the cache
    assert finebench(home, *common, "--gen-kwargs", "max_new_tokens=4,min_new_tokens=4").returncode == 0
    assert cache_size() == 6  # other settings: generated anew


def test_bad_model_args_and_gen_kwargs_fail_before_the_model_loads(home: Path, tmp_path: Path) -> None:
    data = write_demo_data_root(tmp_path / "data", items_per_file=1)
    base = ("run", "--model", "tiny-qwen2.5-vl", "--tasks", "cub_closed_seen", "--data-root", str(data), "-o", str(tmp_path / "o"))
    for flags, message in ((("--model-args", "attn=sdpa"), "unknown key(s) attn for the hf adapter"),
                           (("--model-args", "dtype"), "'dtype' is not key=value"),
                           (("--gen-kwargs", "max_new_tokens=many"), "max_new_tokens must be an integer")):
        out = finebench(home, *base, *flags)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = finebench(home, "run", "--model", "tiny-clip", "--tasks", "cub_closed_seen", "--data-root", str(data),
                    "-o", str(tmp_path / "o"), "--gen-kwargs", "max_new_tokens=3")
    assert out.returncode == 2 and "generates no text" in out.stderr
    out = finebench(home, "run", "--model", "tiny-qwen2.5-vl", "--general", "mme", "-o", str(tmp_path / "o"),
                    "--model-args", "dtype=float32")
    assert out.returncode == 2 and "apply to --tasks runs" in out.stderr
    assert not (tmp_path / "o").exists()
