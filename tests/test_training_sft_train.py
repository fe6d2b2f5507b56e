"""CoT SFT end to end on the tiny random Qwen2.5-VL (CPU): assistant-only labels, a loss that
goes down on a repeated batch, a frozen vision tower, bad samples reported, and a checkpoint that
the harness evaluates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from finebench.adapters.factory import RuntimeOptions
from finebench.adapters.hf import HFAdapter
from finebench.cli.train import sft_command
from finebench.data.demo import write_demo_data_root
from finebench.data.formats import BadSampleWarning, DataFormatError, Stage1Sample, write_stage1
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from finebench.training.sft.recipe import load_recipe
from finebench.training.sft.trainer import SFTExamples, load_training_samples, make_collator

SFT_YAML = Path(__file__).resolve().parents[1] / "training" / "sft.yaml"
IMAGE_MARKER = "<image>"


def demo_samples(data_root: Path) -> list[Stage1Sample]:
    """One CoT sample per demo bird item, in the release's SFT format."""
    rows = [json.loads(line) for line in (data_root / "fine-r1/eval/bird_seen.jsonl").read_text().splitlines()]
    return [
        Stage1Sample(
            IMAGE_MARKER + row["question"],
            f"<think>\nAnalysis of Visual Features:\nA seabird with long wings.\n\nThe prediction is: "
            f"{row['ground_truth']}\n</think>\n\n<answer>{row['ground_truth']}</answer>",
            (row["image_path"],),
        )
        for row in rows
    ]


def collate(model_dir: Path, samples: Sequence[Stage1Sample], image_root: Path) -> tuple[dict, object]:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    examples = SFTExamples(list(samples), image_root, 32 * 32, 768 * 768)
    return make_collator(processor, 4096)([examples[i] for i in range(len(examples))]), processor


def batch_loss(model_dir: Path, batch: dict) -> float:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return float(model(**batch).loss)


@dataclass
class Trained:
    data_root: Path
    base_dir: Path
    checkpoint: Path
    samples: list[Stage1Sample]
    output: object


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Four optimiser steps on one repeated batch (2 samples; batch size 2), through the command;
    the data file also holds a sample whose image is missing, which is skipped and reported."""
    work = tmp_path_factory.mktemp("sft")
    data_root = write_demo_data_root(work / "data", items_per_file=2)
    samples = demo_samples(data_root)
    missing = Stage1Sample("<image>q", "<answer>Laysan Albatross</answer>", ("nope.jpg",))
    write_stage1(work / "train.json", [*samples, missing])
    with pytest.warns(BadSampleWarning, match="sample 2: image not found"):
        output = sft_command(SFT_YAML, [
            f"model={tiny_model_dir}", f"data_files={work / 'train.json'}", f"image_root={data_root}",
            f"output_dir={work / 'checkpoint'}", "on_bad_sample=skip", "max_steps=4", "learning_rate=1e-3",
            "warmup_steps=0", "effective_batch_size=2", "per_device_train_batch_size=2", "bf16=false",
            "gradient_checkpointing=false", "dataloader_num_workers=0",
        ])
    return Trained(data_root, tiny_model_dir, work / "checkpoint", samples, output)


def test_labels_keep_exactly_the_assistant_turn(tiny_model_dir: Path, tmp_path: Path) -> None:
    data_root = write_demo_data_root(tmp_path, items_per_file=2)
    samples = demo_samples(data_root)
    samples[1] = Stage1Sample(samples[1].prompt, samples[1].response + " (a longer answer to force padding)",
                              samples[1].images)
    batch, processor = collate(tiny_model_dir, samples, data_root)
    tokenizer = processor.tokenizer
    for row, sample in enumerate(samples):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        kept = ids[labels != -100]
        # The trained tokens decode to the assistant text plus its end-of-turn marker, nothing else.
        assert tokenizer.decode(kept) == sample.response + "<|im_end|>\n"
        assert (labels[labels != -100] == kept).all()
        # Everything before them (system, question, image placeholders) is masked.
        first = int((labels != -100).nonzero()[0])
        prompt = tokenizer.decode(ids[:first])
        assert prompt.endswith("<|im_start|>assistant\n") and sample.prompt[len(IMAGE_MARKER):] in prompt
        assert (ids[:first] == processor.image_token_id).sum() > 0
    assert (batch["labels"][0][batch["attention_mask"][0] == 0] == -100).all()
    assert (batch["attention_mask"][0] == 0).any()  # the shorter sample was padded


def test_training_lowers_the_loss_on_the_repeated_batch(trained: Trained) -> None:
    batch, _ = collate(trained.base_dir, trained.samples, trained.data_root)
    before = batch_loss(trained.base_dir, batch)
    after = batch_loss(trained.checkpoint, batch)
    print(f"loss on the training batch: before {before:.4f}, after {after:.4f}")
    assert after < before - 0.5
    assert trained.output.global_step == 4 and trained.output.n_samples == 2


def test_vision_tower_is_frozen_and_the_language_model_trained(trained: Trained) -> None:
    from safetensors.torch import load_file

    base = load_file(trained.base_dir / "model.safetensors")
    tuned = load_file(trained.checkpoint / "model.safetensors")
    assert base.keys() == tuned.keys()
    vision = [k for k in base if ".visual." in k or k.startswith("visual.")]
    assert vision and all(torch.equal(base[k], tuned[k]) for k in vision)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k not in vision)


def test_skipped_samples_are_reported_in_the_checkpoint(trained: Trained) -> None:
    report = json.loads((trained.checkpoint / "finebench_sft.json").read_text())
    [(file, problems)] = report["skipped"].items()
    assert file.endswith("train.json") and problems == [{"index": 2, "reason": problems[0]["reason"]}]
    assert "image not found" in problems[0]["reason"]
    assert report["recipe"]["learning_rate"] == 1e-3 and report["global_step"] == 4


def test_checkpoint_answers_a_closed_world_task_in_the_harness(trained: Trained, tmp_path: Path) -> None:
    assert json.loads((trained.checkpoint / "config.json").read_text())["use_cache"] is True
    tokenizer_json = json.loads((trained.checkpoint / "tokenizer.json").read_text())
    assert tokenizer_json["truncation"] is None and tokenizer_json["padding"] is None
    card = ModelCard(name=f"hf:{trained.checkpoint}", adapter="hf", model=str(trained.checkpoint),
                     generation={"max_new_tokens": 24})
    adapter = HFAdapter.from_card(card, RuntimeOptions())
    try:
        config = RunConfig(tasks=("cub_closed_seen",), data_root=trained.data_root, output_path=tmp_path,
                           metrics=("accuracy",))
        results = Evaluator(config, adapter, card).run()
    finally:
        adapter.close()
    summary = results["results"]["cub_closed_seen"]
    assert summary["n"] == 2 and summary["n_errors"] == 0
    samples = [json.loads(line) for line in (tmp_path / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert all(isinstance(s["response"], str) and s["response"] for s in samples)


def test_bad_samples_are_refused_with_their_index(tmp_path: Path) -> None:
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    good = demo_samples(data_root)
    bad = [
        Stage1Sample("<image>q", "<answer>Laysan Albatross</answer>", ("missing.jpg",)),
        Stage1Sample("<image>q", "<think>no answer</think>", good[0].images),
        Stage1Sample("<image>q", "<answer>Boeing 747</answer>", good[0].images),
    ]
    write_stage1(tmp_path / "train.json", [good[0], *bad, good[1]])
    (tmp_path / "classes.txt").write_text("Black Footed Albatross\nLaysan Albatross\nSooty Albatross\n")
    overrides = [f"data_files={tmp_path / 'train.json'}", f"image_root={data_root}", f"output_dir={tmp_path / 'out'}",
                 f"classes_file={tmp_path / 'classes.txt'}"]
    with pytest.raises(DataFormatError) as refused:
        load_training_samples(load_recipe(SFT_YAML, overrides))
    message = str(refused.value)
    assert "sample 1: image not found" in message and "sample 2: no <answer>" in message
    assert "sample 3: label 'Boeing 747' is not in the class list" in message
    with pytest.warns(BadSampleWarning, match="skipped 3 bad sample"):
        kept, skipped = load_training_samples(load_recipe(SFT_YAML, [*overrides, "on_bad_sample=skip"]))
    assert kept == [good[0], good[1]]
    assert [p.index for p in skipped[str(tmp_path / "train.json")]] == [1, 2, 3]
