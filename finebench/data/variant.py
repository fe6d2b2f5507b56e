"""`finebench data build`: one benchmark variant from an official layout, end to end: read the official
folder, split seen/unseen classes, sample the few-shot set, mine look-alike distractors, write the
item files and the meta. It sits above the manifest, the readers and the distractor miner, which
know nothing of each other's callers."""

from __future__ import annotations

import warnings
from pathlib import Path

from finebench.data.distractors import DEFAULT_ENCODER, MODES, mine_neighbours
from finebench.data.manifest import (
    FewShotShortfallWarning,
    build_items,
    few_shot_shortfall,
    release_questions,
    sample_few_shot,
    split_classes,
)
from finebench.data.official import RELEASE_PREFIX, read_official
from finebench.tasks.items import item_to_row
from finebench.util.fsutil import atomic_write_json, atomic_write_jsonl


def build_benchmark(
    dataset: str,
    source_dir: Path,
    out_dir: Path,
    *,
    seen_fraction: float = 0.6,
    seed: int = 0,
    shots: int = 4,
    distractors: str = "hard",
    encoder: str | None = None,
    device: str = "cpu",
) -> dict:
    """Read an official layout and write a seen/unseen benchmark variant with its few-shot set.

    ``distractors``: ``hard`` (look-alikes mined with the CLIP-like ``encoder``, default
    ``finebench.data.distractors.DEFAULT_ENCODER``; embeddings cached in
    ``out_dir/embeddings.sqlite``) or ``random`` (uniform, seeded).

    Files in ``out_dir`` (prefix: aircraft, bird, car, dog, flower, pet):
    ``{prefix}_seen.jsonl`` / ``{prefix}_unseen.jsonl`` (release format, loadable by
    ``finebench.tasks.items.load_items``), ``{prefix}_fewshot_train.jsonl`` (image_path, class_name;
    seen classes only, official train images only) and ``{prefix}_meta.json`` (seed, fraction,
    class lists, shortfall). Everything is a function of the inputs, so the same seed gives
    byte-identical files. Returns the counts.
    """
    if distractors not in MODES:
        raise ValueError(f"distractors must be one of {', '.join(MODES)}, got {distractors!r}")
    manifest = read_official(dataset, Path(source_dir))
    prefix = RELEASE_PREFIX[dataset]
    seen, unseen = split_classes(manifest.classes, seen_fraction, seed)
    questions = release_questions(prefix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewShotShortfallWarning)  # reported in the meta and counts
        fewshot = sample_few_shot(manifest, seen, k=shots, seed=seed)
    shortfall = few_shot_shortfall(manifest, seen, shots)
    out_dir = Path(out_dir)
    mined = None  # mined last: every cheap check above runs before an encoder loads
    if distractors == "hard":
        mined = mine_neighbours(manifest, Path(source_dir), cache_path=out_dir / "embeddings.sqlite",
                                encoder=encoder or DEFAULT_ENCODER, device=device)
    ranked = mined.ranked if mined else None
    seen_items = build_items(manifest, seen, questions, seed=seed, neighbours=ranked)
    unseen_items = build_items(manifest, unseen, questions, seed=seed, neighbours=ranked)

    names = ("seen.jsonl", "unseen.jsonl", "fewshot_train.jsonl", "meta.json")
    paths = {name: out_dir / f"{prefix}_{name}" for name in names}
    atomic_write_jsonl(paths["seen.jsonl"], [item_to_row(i) for i in seen_items])
    atomic_write_jsonl(paths["unseen.jsonl"], [item_to_row(i) for i in unseen_items])
    atomic_write_jsonl(
        paths["fewshot_train.jsonl"], [{"image_path": r.image_path, "class_name": r.class_name} for r in fewshot]
    )
    counts = {
        "seen_classes": len(seen),
        "unseen_classes": len(unseen),
        "seen_items": len(seen_items),
        "unseen_items": len(unseen_items),
        "fewshot_images": len(fewshot),
        "fewshot_short_classes": len(shortfall),
    }
    atomic_write_json(
        paths["meta.json"],
        {
            "dataset": dataset,
            "prefix": prefix,
            "seed": seed,
            "seen_fraction": seen_fraction,
            "shots": shots,
            "distractors": {
                "mode": distractors,
                "seed": seed,
                "encoder": (encoder or DEFAULT_ENCODER) if mined else None,
                "similarity": mined.similarity if mined else "uniform",
                "fallback_reason": mined.reason if mined else "",
                "unranked_classes": list(mined.unranked) if mined else [],
            },
            "counts": counts,
            "seen_classes": seen,
            "unseen_classes": unseen,
            "fewshot_shortfall": shortfall,
        },
    )
    similarity = mined.similarity if mined else "uniform"
    return {"dataset": dataset, **counts, "distractors": similarity, "files": [str(p) for p in paths.values()]}
