"""Local paths are recognised as local, and the Hub is asked once: a mistyped checkpoint folder or
an offline machine is one line naming the fix, not minutes of retries and a traceback."""

from __future__ import annotations

import time

import pytest

from finebench.util import hub
from finebench.util.errors import FinebenchError
from finebench.util.hub import Located, locate, looks_like_path


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda: "[Errno -2] Name or service not known")
    monkeypatch.setattr(hub, "in_hub_cache", lambda repo: repo == "org/cached")


@pytest.mark.parametrize("value, expected", [
    ("org/name", False), ("gpt2", False), ("Qwen/Qwen2.5-VL-7B-Instruct", False),
    ("/abs/ckpt", True), ("~/ckpt", True), ("./ckpt", True), ("../ckpt", True), ("a/b/c", True),
    ("ckpt/", True), ("my model", True), ("C:\\ckpt", True),
])
def test_path_or_hub_id(value, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert looks_like_path(value) is expected


def test_org_name_shaped_paths_count_as_local_when_their_first_folder_exists(tmp_path, monkeypatch, offline):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_path("checkpoints/synth-sf")
    (tmp_path / "checkpoints" / "synth-sft").mkdir(parents=True)
    assert looks_like_path("checkpoints/synth-sf")
    start = time.monotonic()
    with pytest.raises(FinebenchError) as caught:
        locate("checkpoints/synth-sf", "model 'hf:checkpoints/synth-sf'")
    assert time.monotonic() - start < 1
    assert str(caught.value) == ("model 'hf:checkpoints/synth-sf': folder checkpoints/synth-sf does not exist; "
                                 "did you mean checkpoints/synth-sft?")
    assert locate("checkpoints/synth-sft", "m") == Located(str((tmp_path / "checkpoints" / "synth-sft").resolve()))


def test_a_folder_a_stage_writes_names_that_stage(tmp_path, monkeypatch, offline):
    monkeypatch.chdir(tmp_path)  # fresh clone: no checkpoints/ yet, so the value is shaped like a Hub id
    with pytest.raises(FinebenchError, match=r"folder checkpoints/synth-sft does not exist; it is written by "
                                             r"`finebench train sft --config training/synth-sft.yaml`: run that first"):
        locate("checkpoints/synth-sft", "recipe x: key 'model'",
               produced_by="finebench train sft --config training/synth-sft.yaml")


def test_a_file_is_not_a_model_folder(tmp_path, offline):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(FinebenchError, match="is a file, not a model folder"):
        locate(str(tmp_path / "model.safetensors"), "m")


def test_an_unreachable_hub_is_one_line_unless_the_id_is_cached(offline):
    with pytest.raises(FinebenchError) as caught:
        locate("org/missing", "model 'hf:org/missing'")
    message = str(caught.value)
    assert "\n" not in message and "cannot be reached ([Errno -2]" in message
    assert "HF_HUB_OFFLINE=1" in message and "hf download org/missing" in message
    assert locate("org/cached", "m") == Located("org/cached", local_files_only=True)


def test_hf_hub_offline_is_honoured_without_asking_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda: pytest.fail("asked the Hub although HF_HUB_OFFLINE=1"))
    monkeypatch.setattr(hub, "in_hub_cache", lambda repo: repo == "org/cached")
    with pytest.raises(FinebenchError, match="not in the Hugging Face cache, and HF_HUB_OFFLINE is set"):
        locate("org/missing", "m")
    assert locate("org/cached", "m").local_files_only


def test_the_real_probe_answers_within_its_timeout():
    hub.hub_unreachable_reason.cache_clear()
    start = time.monotonic()
    reason = hub.hub_unreachable_reason()
    assert time.monotonic() - start < hub.PROBE_TIMEOUT_S + 2
    assert reason is None or isinstance(reason, str)


def test_missing_ss_encoder_fails_in_one_line_and_says_how_to_skip_it(offline):
    from finebench.embeddings.text import load_text_encoder

    with pytest.raises(FinebenchError) as caught:
        load_text_encoder("org/missing")
    assert "--metrics accuracy,inclusion" in str(caught.value) and "\n" not in str(caught.value)


def test_a_run_with_a_mistyped_checkpoint_fails_before_anything_loads(tmp_path, monkeypatch, offline):
    from finebench.data.demo import write_demo_data_root
    from finebench.evaluation.config import RunConfig
    from finebench.evaluation.session import run_model
    from finebench.models.cards import resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "synth-sft").mkdir(parents=True)
    root = write_demo_data_root(tmp_path / "data", items_per_file=1)
    loaded = []
    monkeypatch.setattr("finebench.evaluation.session.load_text_encoder", lambda spec: loaded.append(spec))
    config = RunConfig(tasks=("cub_open_seen",), data_root=root, output_path=tmp_path / "out")
    with pytest.raises(FinebenchError, match="folder checkpoints/synth-sf does not exist"):
        run_model(resolve_model("hf:checkpoints/synth-sf"), config)
    assert loaded == [] and not (tmp_path / "out").exists()  # the encoder was never loaded


def test_cuda_without_a_gpu_is_refused_with_its_own_message(monkeypatch):
    import torch

    from finebench.adapters.checkpoints import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FinebenchError, match=r"^--device cuda:1: no CUDA GPU is visible to torch here; use --device cpu"):
        resolve_device("cuda:1")
    assert resolve_device("auto") == "cpu"
