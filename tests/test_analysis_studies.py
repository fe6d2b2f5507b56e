"""`finebench analyze probe|taxonomy|pca` end to end on the tiny offline Qwen2.5-VL: outputs,
feature caching, side-by-side models and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finebench.analysis import studies
from finebench.analysis.features import FeatureCache
from finebench.analysis.studies import ProbeSettings, load_model, pca_questions, probe_split, probe_study
from finebench.cli import app
from finebench.data.demo import write_demo_data_root
from finebench.models.builtin import build_tiny_qwen25vl
from finebench.tasks.items import load_items
from finebench.util.errors import FinebenchError
from tests.test_official_readers import write_cub

runner = CliRunner()


@pytest.fixture(scope="module")
def second_model(tmp_path_factory) -> Path:
    """Another tiny random Qwen2.5-VL (seed 1), so two models can be compared."""
    return build_tiny_qwen25vl(tmp_path_factory.mktemp("tiny-seed1") / "m", seed=1)


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_probe_cli_writes_results_and_reuses_cached_features(tiny_model_dir, tmp_path, monkeypatch):
    data_root = tmp_path / "data"
    write_cub(data_root / "bird_200")  # CUB_200_2011 layout, images at bird_200/images/...
    out = tmp_path / "probe"
    args = ("analyze", "probe", "-m", f"hf:{tiny_model_dir}", "--src", str(data_root / "bird_200"),
            "--data-root", str(data_root), "--out", str(out), "--epochs", "20", "--lr", "0.01", "--device", "cpu")
    output = invoke(*args)
    result = json.loads((out / "probe.json").read_text())
    probe = result["models"][f"hf:{tiny_model_dir}"]
    assert (probe["n_train"], probe["n_test"], probe["n_classes"]) == (8, 4, 4)
    assert 0.0 <= probe["best_test_accuracy"] <= 1.0 and 1 <= probe["best_epoch"] <= 20
    assert "| Best test acc. (%) |" in (out / "probe.md").read_text() and "probe.json" in output
    assert len(list((out / "features").glob("*.npz"))) == 2  # train and test features

    def no_extraction(*_args, **_kwargs):
        raise AssertionError("features must come from the cache")

    monkeypatch.setattr(studies, "image_token_embeddings", no_extraction)
    invoke(*args, "--epochs", "5")  # other probe settings: same features
    assert json.loads((out / "probe.json").read_text())["settings"]["epochs"] == 5


def test_probe_split_caps_classes_with_a_seed(fgvr_train_root):
    _, manifest = fgvr_train_root
    capped = probe_split(manifest.records, "train", 2, seed=0)
    assert len(capped) == 12 and capped == probe_split(manifest.records, "train", 2, seed=0)
    assert {r.split for r in capped} == {"train"}
    assert len(probe_split(manifest.records, "test", None, seed=0)) == 12


def test_probe_needs_both_splits(fgvr_train_root, tiny_model_dir, tmp_path):
    data_root, manifest = fgvr_train_root
    train_only = type(manifest)(manifest.dataset, tuple(r for r in manifest.records if r.split == "train"), manifest.classes)
    with pytest.raises(FinebenchError, match="needs train and test images"):
        probe_study([load_model(f"hf:{tiny_model_dir}", "cpu")], train_only, data_root, FeatureCache(tmp_path), ProbeSettings())


def test_taxonomy_cli_compares_two_models(tiny_model_dir, second_model, tmp_path):
    taxonomy = tmp_path / "birds.txt"
    taxonomy.write_text("# common<TAB>scientific\n" + "\n".join([
        "Blue Jay\tCyanocitta cristata", "Steller's Jay\tCyanocitta stelleri", "Laysan Albatross\tPhoebastria immutabilis",
        "Black-footed Albatross\tPhoebastria nigripes", "Red Cardinal\tCardinalis cardinalis",
        "Pyrrhuloxia\tCardinalis sinuatus", "Green Jay\tCyanocorax yncas", "Song Sparrow\tMelospiza melodia",
    ]) + "\n")
    out = tmp_path / "tax"
    invoke("analyze", "taxonomy", "-m", f"hf:{tiny_model_dir}", "-m", f"hf:{second_model}",
           "--taxonomy", str(taxonomy), "--out", str(out), "--device", "cpu")
    result = json.loads((out / "taxonomy.json").read_text())
    assert result["n_comparisons"] == 6 and list(result["models"]) == [f"hf:{tiny_model_dir}", f"hf:{second_model}"]
    first, second = result["models"].values()
    assert first["n"] == 6 and 0.0 <= first["p_value"] <= 1.0
    assert first["mean_difference"] != second["mean_difference"]  # different weights, different geometry
    assert (out / "taxonomy.md").read_text().count("| hf:") == 2


def test_pca_cli_plots_each_model_and_scores_separability(tiny_model_dir, tmp_path):
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=6)
    items = data_root / "fine-r1" / "eval" / "bird_unseen.jsonl"
    out = tmp_path / "pca"
    invoke("analyze", "pca", "-m", f"hf:{tiny_model_dir}", "--items", str(items), "--data-root", str(data_root),
           "--out", str(out), "--folds", "3", "--device", "cpu")
    result = json.loads((out / "pca.json").read_text())
    model = result["models"][f"hf:{tiny_model_dir}"]
    assert (model["n_correct"], model["n_incorrect"]) == (6, 18) and result["majority_baseline"] == 0.75
    assert 0.0 <= model["separability"] <= 1.0
    assert (out / model["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pca_questions_mark_the_ground_truth(tmp_path):
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    items = load_items(data_root / "fine-r1" / "eval" / "bird_seen.jsonl")
    rows = pca_questions(items, "Is the bird species {name}?")
    assert len(rows) == 8 and sum(correct for _, _, correct in rows) == 2
    assert rows[0] == (items[0].image_path, f"Is the bird species {items[0].options[0]}?", items[0].options[0] == items[0].ground_truth)


def test_contrastive_cards_are_refused(tiny_clip_dir):
    with pytest.raises(FinebenchError, match="the analyses need a transformers checkpoint"):
        load_model("tiny-clip", "cpu")
