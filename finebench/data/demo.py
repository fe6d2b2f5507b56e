"""The offline demo data root: a miniature Fine-R1 release with generated images.

It mirrors the real on-disk layout (``fine-r1/eval/{dataset}_{split}.jsonl`` plus images under each
dataset's release path), so the demo run and the tests exercise exactly the code path of a real
run. Images are synthetic (a class-specific colour and stripe pattern), not photos.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from finebench.util.fsutil import atomic_write_jsonl
from finebench.util.generated import mark_generated

RELEASE_ITEMS_DIR = "fine-r1/eval"


@dataclass(frozen=True)
class DemoDataset:
    prefix: str
    question: str
    classes: tuple[str, ...]

    def image_path(self, class_index: int, image_index: int) -> str:
        name = self.classes[class_index]
        n = 9000 + class_index * 100 + image_index
        if self.prefix == "bird":
            folder = f"{class_index + 1:03d}.{name.replace(' ', '_')}"
            return f"bird_200/images/{folder}/{name.replace(' ', '_')}_{n}.jpg"
        if self.prefix == "car":
            return f"stanford-cars/cars_test/{n:05d}.jpg"
        if self.prefix == "dog":
            wnid = f"n0209{class_index:04d}"
            return f"dogs_120/Images/{wnid}-{name.replace(' ', '_')}/{wnid}_{n}.jpg"
        if self.prefix == "flower":
            return f"flower102/jpg/image_{n:05d}.jpg"
        if self.prefix == "pet":
            return f"oxford-pet/images/{name.replace(' ', '_')}_{n}.jpg"
        return f"fgvc_aircraft/data/images/{n:07d}.jpg"


DEMO_DATASETS = (
    DemoDataset("bird", "What is the species of the bird in this image?",
                ("Black Footed Albatross", "Laysan Albatross", "Sooty Albatross", "Groove Billed Ani",
                 "Crested Auklet", "Least Auklet", "Parakeet Auklet", "Rhinoceros Auklet")),
    DemoDataset("car", "What is the name of the car in the photo?",
                ("Ferrari 458 Italia Convertible 2012", "Ferrari FF Coupe 2012", "Ferrari California Convertible 2012",
                 "Ferrari 458 Italia Coupe 2012", "McLaren MP4-12C Coupe 2012", "Chevrolet Corvette Convertible 2012",
                 "Lamborghini Aventador Coupe 2012", "Bugatti Veyron 16.4 Coupe 2009")),
    DemoDataset("dog", "What breed is the dog in this picture?",
                ("Maltese Dog", "West Highland White Terrier", "Sealyham Terrier", "Dandie Dinmont",
                 "Chihuahua", "Japanese Spaniel", "Shih-Tzu", "Blenheim Spaniel")),
    DemoDataset("flower", "What is the name of the flower in this image?",
                ("hard-leaved pocket orchid", "cape flower", "globe flower", "moon orchid",
                 "canterbury bells", "sweet pea", "english marigold", "tiger lily")),
    DemoDataset("pet", "What species is the pet in this picture?",
                ("Abyssinian", "Bengal", "Egyptian Mau", "Siamese",
                 "American Bulldog", "Staffordshire Bull Terrier", "American Pit Bull Terrier", "Boxer")),
    DemoDataset("aircraft", "What is the model of the aircraft in this image?",
                ("Boeing 727-200", "Fokker 70", "MD-87", "Fokker 100",
                 "A320", "737-800", "ATR-72", "Cessna 172")),
)


def demo_image(class_index: int, image_index: int, size: tuple[int, int] = (56, 42)):
    """A small RGB image whose colour encodes the class and whose stripes vary per image."""
    from PIL import Image, ImageDraw

    rng = random.Random(class_index * 1000 + image_index)
    base = ((class_index * 67) % 256, (class_index * 131) % 256, (class_index * 29 + 80) % 256)
    image = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x = rng.randrange(size[0])
        draw.line([(x, 0), (size[0] - x, size[1])], fill=(255 - base[0], 255 - base[1], 255 - base[2]), width=3)
    return image


def write_demo_data_root(root: Path, items_per_file: int = 2) -> Path:
    """Write the demo release under ``root`` (idempotent: existing files are overwritten the same)."""
    root = Path(root)
    written = []
    for dataset in DEMO_DATASETS:
        half = len(dataset.classes) // 2
        for split, class_range in (("seen", range(half)), ("unseen", range(half, len(dataset.classes)))):
            rows = []
            classes = list(class_range)
            for i in range(items_per_file):
                gt = classes[i % len(classes)]
                distractors = [c for c in classes if c != gt][:3]
                rel = dataset.image_path(gt, i)
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                demo_image(gt, i).save(path, quality=90)
                rows.append({
                    "image_path": rel,
                    "question": dataset.question,
                    "options": [dataset.classes[gt]] + [dataset.classes[d] for d in distractors],
                    "ground_truth": dataset.classes[gt],
                })
            written.append(root / RELEASE_ITEMS_DIR / f"{dataset.prefix}_{split}.jsonl")
            atomic_write_jsonl(written[-1], rows)
    mark_generated("demo", written, tasks="fgvr")  # runs on it are flagged in results.json and kept off the paper tables
    return root
