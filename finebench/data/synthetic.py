"""A synthetic compositional FGVR benchmark, rendered procedurally, in the release layout.

Real FGVR data cannot be downloaded here, and a random model learns nothing from photos in a few
CPU minutes; a benchmark whose right answers are known by construction is what shows that the
training stack *learns*. Every class is a composition of three visual attributes (colour x
pattern x shape, four values each, 64 classes) and is named after them ("Red Striped Circle"), so:

- look-alike classes are defined exactly: the distractors of an item, and the negative of a
  Stage-2 triplet, are classes one attribute away from the ground truth;
- unseen classes are new compositions of attribute values that all occur in seen classes, so a
  model that has learnt the attributes (rather than memorised the seen names) can name them,
  which is the paper's seen/unseen generalisation question in miniature.

Everything is a function of the seed: the class split, the images (position, size, rotation,
background and noise drawn per image) and the files, so two builds are byte-identical.

A ``SynthVariant`` names the benchmark (its folder, dataset and task prefix), renders its images and
says which neighbours the Stage-2 negatives come from: ``BASE`` here (``synth``, a class always
looks nearly the same), ``HARD`` in ``synthetic_hard`` (``synth_hard``, intra-class nuisance and
look-alikes that differ on a small sub-part).

Layout under the data root (the release's conventions, under ``synth/``; ``synth_hard/`` likewise)::

    synth/images/<Class_Folder>/<Class_Folder>_<k>.png        test images (the benchmark items)
    synth/images_train/<Class_Folder>/<Class_Folder>_<k>.png  train images (seen classes only)
    synth/eval/synth_{seen,unseen}.jsonl                      items (release format)
    synth/synth_fewshot_train.jsonl                           image_path, class_name per train image
    synth/sft/synth-stage1.json                               Stage-1 CoT samples (half the train images)
    synth/tapo/synth-stage2.json                              Stage-2 triplets (release format)
    synth/meta.json                                           seed, attributes, class split, counts

Image paths in every file are relative to the data root (``image_root`` of the recipes).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finebench.tasks.items import Item, item_to_row
from finebench.util.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from finebench.util.generated import mark_generated

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

ROOT = "synth"
COLOURS: dict[str, tuple[int, int, int]] = {
    "Red": (214, 39, 40),
    "Green": (44, 160, 44),
    "Blue": (31, 90, 200),
    "Yellow": (236, 200, 20),
}
PATTERNS = ("Solid", "Striped", "Dotted", "Checkered")
SHAPES = ("Circle", "Square", "Triangle", "Cross")
QUESTIONS = (
    "What kind of shape is this?",
    "What is the name of the shape in this image?",
    "Can you identify the shape in this picture?",
    "Which shape class is shown in the image?",
)
SEEN_FRACTION = 0.6


@dataclass(frozen=True, order=True)
class SynthClass:
    colour: str
    pattern: str
    shape: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.pattern} {self.shape}"

    @property
    def folder(self) -> str:
        return self.name.replace(" ", "_")

    def attributes(self) -> tuple[str, str, str]:
        return (self.colour, self.pattern, self.shape)

    def differs_by_one(self, other: SynthClass) -> bool:
        return sum(a != b for a, b in zip(self.attributes(), other.attributes(), strict=True)) == 1


def all_classes() -> list[SynthClass]:
    """Every composition, in a fixed order (colour, then pattern, then shape)."""
    return [SynthClass(c, p, s) for c, p, s in itertools.product(COLOURS, PATTERNS, SHAPES)]


def class_by_name(classes: Sequence[SynthClass]) -> dict[str, SynthClass]:
    return {c.name: c for c in classes}


def neighbours(cls: SynthClass, classes: Sequence[SynthClass]) -> dict[int, list[SynthClass]]:
    """Classes one attribute away, by which attribute differs (0 colour, 1 pattern, 2 shape)."""
    found: dict[int, list[SynthClass]] = {0: [], 1: [], 2: []}
    for other in classes:
        if cls.differs_by_one(other):
            axis = next(i for i, (a, b) in enumerate(zip(cls.attributes(), other.attributes())) if a != b)
            found[axis].append(other)
    return found


def split_classes(classes: Sequence[SynthClass], seed: int, seen_fraction: float = SEEN_FRACTION
                  ) -> tuple[list[SynthClass], list[SynthClass]]:
    """Seeded seen/unseen split in which every attribute value occurs among the seen classes.

    The first shuffle (of ``seed``, then ``seed``-derived retries) that covers every value wins, so
    unseen classes are always recombinations of seen values, never a value the model never saw.
    """
    n_seen = math.floor(len(classes) * seen_fraction + 1e-9)
    values = [set(COLOURS), set(PATTERNS), set(SHAPES)]
    for attempt in range(1000):
        order = list(classes)
        random.Random(f"synth-split:{seed}:{attempt}").shuffle(order)
        seen = sorted(order[:n_seen])
        if all({c.attributes()[axis] for c in seen} == values[axis] for axis in range(3)):
            return seen, sorted(order[n_seen:])
    raise ValueError(f"no seen/unseen split covers every attribute value with {n_seen} seen classes")


# ---- rendering -------------------------------------------------------------------------------------


def shape_mask(shape: str, size: int, cx: float, cy: float, radius: float, angle: float) -> Image:
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "Circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
        return mask
    if shape == "Square":
        corners = [(radius, radius), (-radius, radius), (-radius, -radius), (radius, -radius)]
        corners = [(x * 0.85, y * 0.85) for x, y in corners]
    elif shape == "Triangle":
        corners = [(radius * math.cos(a), radius * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    else:  # Cross: a plus sign of two bars
        w = radius * 0.38
        corners = [(w, -radius), (w, -w), (radius, -w), (radius, w), (w, w), (w, radius),
                   (-w, radius), (-w, w), (-radius, w), (-radius, -w), (-w, -w), (-w, -radius)]
    cos, sin = math.cos(angle), math.sin(angle)
    draw.polygon([(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners], fill=255)
    return mask


def pattern_mask(pattern: str, size: int, period: int, phase: int) -> np.ndarray:
    """1 where the shape shows its colour, 0 where it is white (diagonal stripes, a grid of dots)."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size]
    if pattern == "Solid":
        return np.ones((size, size), dtype=np.float32)
    if pattern == "Striped":
        return (((xx + yy + phase) // (period // 2)) % 2 == 0).astype(np.float32)
    if pattern == "Checkered":
        half = period // 2
        return ((((xx + phase) // half) + ((yy + phase) // half)) % 2 == 0).astype(np.float32)
    dy = (yy + phase) % period - period / 2
    dx = (xx + phase) % period - period / 2
    return (dx * dx + dy * dy > (period / 3) ** 2).astype(np.float32)


def render(cls: SynthClass, key: str, size: int) -> Image:
    """One image of ``cls``; ``key`` seeds its position, size, rotation, background and noise."""
    import numpy as np
    from PIL import Image

    rng = random.Random(f"synth-image:{key}")
    background = tuple(rng.randint(150, 235) for _ in range(3))
    radius = size * rng.uniform(0.30, 0.40)
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    cy = size / 2 + rng.uniform(-0.08, 0.08) * size
    angle = rng.uniform(-0.35, 0.35)
    inside = shape_mask(cls.shape, size, cx, cy, radius, angle)
    colour_px = pattern_mask(cls.pattern, size, period=max(4, size // 7), phase=rng.randrange(size))[..., None]
    base = np.array(Image.new("RGB", (size, size), background), dtype=np.float32)
    colour = np.array(COLOURS[cls.colour], dtype=np.float32)
    shape_px = np.asarray(inside, dtype=np.float32)[..., None] / 255.0
    fill = colour * colour_px + 255.0 * (1.0 - colour_px)
    pixels = base * (1.0 - shape_px) + fill * shape_px
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, 6.0, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")


def _png_bytes(image: Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


# ---- items, CoT samples and triplets ------------------------------------------------------------


def look_alike_options(cls: SynthClass, classes: Sequence[SynthClass], rng: random.Random) -> tuple[str, ...]:
    """The ground truth and the three classes that differ from it in one attribute, the same one
    (drawn per item), shuffled. All four then share two attributes and differ in the third, so
    the options alone do not give the answer away (a "star" of one neighbour per attribute
    would: the ground truth is its centre, the per-attribute majority); the image must."""
    axis = rng.randrange(3)
    options = [cls.name, *(c.name for c in neighbours(cls, classes)[axis])]
    rng.shuffle(options)
    return tuple(options)


def think_text(cls: SynthClass) -> str:
    """The reasoning a Stage-1 sample teaches: each attribute named, in the order the class name
    composes them (short, so that sampled rollouts fit a small completion budget)."""
    return f"Colour: {cls.colour.lower()}. Pattern: {cls.pattern.lower()}. Shape: {cls.shape.lower()}."


def cot_response(cls: SynthClass) -> str:
    return f"<think>{think_text(cls)}</think>\n\n<answer>{cls.name}</answer>"


def image_path(cls: SynthClass, split: str, k: int, root: str = ROOT) -> str:
    folder = "images" if split == "test" else "images_train"
    return f"{root}/{folder}/{cls.folder}/{cls.folder}_{k:03d}.png"


def build_items(classes: Sequence[SynthClass], split_classes_: Sequence[SynthClass], images: dict[str, list[str]],
                seed: int) -> list[Item]:
    """One item per test image of ``split_classes_``; distractors come from all classes."""
    items: list[Item] = []
    for cls in split_classes_:
        for path in images[cls.name]:
            rng = random.Random(f"synth-item:{seed}:{path}")
            items.append(Item(len(items), path, rng.choice(QUESTIONS), look_alike_options(cls, classes, rng), cls.name))
    return items


def stage1_rows(seen: Sequence[SynthClass], classes: Sequence[SynthClass], train: dict[str, list[str]], seed: int,
                closed_prompt: str, open_prompt: str) -> list[dict[str, Any]]:
    """Release-format Stage-1 samples, one per image of the first half of each class's train
    images (the other half is left for Stage 2 to meet fresh), in the benchmark's own two prompt
    styles alternately (open world, then closed world with look-alike options), so the model is
    trained on the requests it is evaluated with. No system turn: the evaluation sends none."""
    from finebench.tasks.prompts import render_prompt

    rows = []
    for cls in seen:
        for k, path in enumerate(train[cls.name][: len(train[cls.name]) // 2]):
            rng = random.Random(f"synth-cot:{seed}:{path}")
            item = Item(0, path, rng.choice(QUESTIONS), look_alike_options(cls, classes, rng), cls.name)
            template = open_prompt if k % 2 == 0 else closed_prompt
            prompt = "<image>" + render_prompt(template, item, item.options)
            rows.append({"messages": [{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": cot_response(cls)}],
                         "images": [path]})
    return rows


def stage2_rows(seen: Sequence[SynthClass], classes: Sequence[SynthClass], train: dict[str, list[str]], seed: int,
                open_prompt: str, negative_axes: tuple[int, ...] = (0, 1, 2)) -> list[dict[str, Any]]:
    """Release-format Stage-2 triplets, one per train image of a seen class as the anchor: the
    positive another train image of that class, the negative a train image of a seen class one
    attribute away (drawn per triplet), along ``negative_axes`` (the attributes whose look-alikes
    are closest) when a seen class differs there, else along any. The problem is the benchmark's
    open-world request, whole (it carries its own format instruction; the synth TAPO recipe adds none)."""
    from finebench.tasks.prompts import render_prompt

    seen_names = {c.name for c in seen}
    rows = []
    for cls in seen:
        around = neighbours(cls, classes)
        close = [c for axis in negative_axes for c in around[axis] if c.name in seen_names]
        close = close or [c for axis in around.values() for c in axis if c.name in seen_names]
        paths = train[cls.name]
        for k, anchor in enumerate(paths):
            rng = random.Random(f"synth-triplet:{seed}:{anchor}")
            positive = paths[(k + 1 + rng.randrange(len(paths) - 1)) % len(paths)]
            negative = rng.choice(train[rng.choice(close).name])
            question = Item(0, anchor, rng.choice(QUESTIONS), (cls.name,), cls.name)
            problem = "<image>" + render_prompt(open_prompt, question, question.options)
            rows.append({"problem": problem, "answer": cls.name, "images": [anchor],
                         "image_noisy": [positive], "image_aug": [negative]})
    return rows


@dataclass(frozen=True)
class SynthVariant:
    """One synthetic benchmark: its name (folder under the data root, dataset, task prefix), how
    an image of a class is drawn, and which attributes the Stage-2 negatives differ in."""

    name: str
    render: Callable[[SynthClass, str, int], Image]
    """(class, per-image key, side in pixels) -> the image; a pure function of its arguments."""
    image_size: int
    negative_axes: tuple[int, ...] = (0, 1, 2)


BASE = SynthVariant(ROOT, render, image_size=84)


@dataclass(frozen=True)
class SynthReport:
    root: Path
    seen_classes: int
    unseen_classes: int
    seen_items: int
    unseen_items: int
    train_images: int
    stage1_samples: int
    stage2_triplets: int
    name: str = ROOT

    @property
    def stage1_file(self) -> Path:
        return self.root / self.name / "sft" / f"{self.name.replace('_', '-')}-stage1.json"

    @property
    def stage2_file(self) -> Path:
        return self.root / self.name / "tapo" / f"{self.name.replace('_', '-')}-stage2.json"


def build_synthetic(data_root: Path, *, seed: int = 0, test_per_class: int = 4, train_per_class: int = 16,
                    image_size: int | None = None, variant: SynthVariant = BASE) -> SynthReport:
    """Write the whole benchmark under ``data_root/<variant.name>`` (see the module docstring);
    ``image_size`` defaults to the variant's."""
    from finebench.tasks.index import TaskIndex

    image_size = variant.image_size if image_size is None else image_size
    if test_per_class < 1 or train_per_class < 2:
        raise ValueError("need test_per_class >= 1 and train_per_class >= 2 (a triplet needs two train images)")
    if image_size < 28:
        raise ValueError(f"image_size must be at least 28 pixels, got {image_size}")
    data_root = Path(data_root)
    classes = all_classes()
    seen, unseen = split_classes(classes, seed)
    name = variant.name
    test = {c.name: [image_path(c, "test", k, name) for k in range(test_per_class)] for c in classes}
    train = {c.name: [image_path(c, "train", k, name) for k in range(train_per_class)] for c in seen}
    for cls in classes:
        for split, paths in (("test", test[cls.name]), ("train", train.get(cls.name, []))):
            for path in paths:
                image = variant.render(cls, f"{seed}:{split}:{path}", image_size)
                atomic_write_bytes(data_root / path, _png_bytes(image))

    index = TaskIndex()
    closed_prompt = index.load(f"{name}_closed_seen").prompt
    open_prompt = index.load(f"{name}_open_seen").prompt
    seen_items = build_items(classes, seen, test, seed)
    unseen_items = build_items(classes, unseen, test, seed)
    stage1 = stage1_rows(seen, classes, train, seed, closed_prompt, open_prompt)
    stage2 = stage2_rows(seen, classes, train, seed, open_prompt, variant.negative_axes)
    base = data_root / name
    report = SynthReport(data_root, len(seen), len(unseen), len(seen_items), len(unseen_items),
                         sum(map(len, train.values())), len(stage1), len(stage2), name)
    items = [base / "eval" / f"{name}_seen.jsonl", base / "eval" / f"{name}_unseen.jsonl"]
    atomic_write_jsonl(items[0], [item_to_row(i) for i in seen_items])
    atomic_write_jsonl(items[1], [item_to_row(i) for i in unseen_items])
    mark_generated("synthetic", items, tasks=name)
    atomic_write_jsonl(base / f"{name}_fewshot_train.jsonl",
                       [{"image_path": p, "class_name": cls_name} for cls_name, paths in train.items() for p in paths])
    atomic_write_json(report.stage1_file, stage1)
    atomic_write_json(report.stage2_file, stage2)
    # a checkpoint trained on these is evaluated on the variant's tasks (the hint `finebench train` prints)
    mark_generated("synthetic", [report.stage1_file, report.stage2_file], tasks=name)
    atomic_write_json(base / "meta.json", {
        "variant": name, "seed": seed, "image_size": image_size, "test_per_class": test_per_class,
        "train_per_class": train_per_class, "colours": list(COLOURS), "patterns": list(PATTERNS),
        "shapes": list(SHAPES), "seen_classes": [c.name for c in seen], "unseen_classes": [c.name for c in unseen],
        "counts": {"seen_items": report.seen_items, "unseen_items": report.unseen_items,
                   "train_images": report.train_images, "stage1_samples": report.stage1_samples,
                   "stage2_triplets": report.stage2_triplets},
    })
    return report
