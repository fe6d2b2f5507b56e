"""The training-data formats of the Fine-R1 release, read, checked and written in one place.

Stage 1 (CoT SFT) is the ShareGPT-style JSON of ``Fine-R1-Stage1-data.json``: a list of
``{"messages": [system, user, assistant], "images": [path]}``; the user turn holds an ``<image>``
marker where the image goes and the assistant turn is ``<think>…</think>\\n\\n<answer>LABEL</answer>``.
Stage 2 (TAPO) rows have ``problem``, ``answer``, ``images`` (the anchor), ``image_noisy`` (a
positive: another image of the same class) and ``image_aug`` (a negative: an image of the most
similar other class), each image column a one-element list. The Hub release is parquet with the
images embedded as bytes; the files finebench writes are JSON with absolute paths, which the
released TAPO loader and ours read alike.

A file that is not in the format at all raises DataFormatError at once, naming the sample. A
problem of one sample's content (a missing image, no ``<answer>``, a label outside the class list)
becomes a SampleProblem with the sample's index; ``enforce_policy`` then refuses the whole set or
skips those samples with one warning that names every one, so no sample is ever dropped silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json, atomic_write_jsonl
from finebench.util.imaging import NotAnImageFile, load_rgb

if TYPE_CHECKING:
    pass

STAGE1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>"
)
"""The system turn of every released Stage-1 sample; our own CoT data uses it too, so a model
trained on a mix of both sees one instruction."""

IMAGE_MARKER = "<image>"
BAD_SAMPLE_POLICIES = ("skip", "error")
STAGE2_IMAGE_COLUMNS = ("images", "image_noisy", "image_aug")
STAGE2_IMAGE_ROLES = {"images": "the anchor", "image_noisy": "the positive: another image of the same class",
                      "image_aug": "the negative: an image of the most similar other class"}
STAGE2_SUFFIXES = (".json", ".jsonl", ".parquet")

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)

T = TypeVar("T")


class DataFormatError(FinebenchError):
    """A training-data file is not in the expected format, or bad samples were refused."""


class BadSampleWarning(UserWarning):
    """Samples were skipped because of a SampleProblem; the message lists every one."""


@dataclass(frozen=True, slots=True)
class SampleProblem:
    index: int
    """0-based position of the sample in the list it was checked in."""
    reason: str

    def __str__(self) -> str:
        return f"sample {self.index}: {self.reason}"


def enforce_policy(items: Sequence[T], problems: Sequence[SampleProblem], policy: str, source: str) -> list[T]:
    """``items`` without the ones that have a problem (``skip``, with a BadSampleWarning), or a
    DataFormatError listing all problems (``error``)."""
    if policy not in BAD_SAMPLE_POLICIES:
        raise ValueError(f"on_bad_sample must be one of {', '.join(BAD_SAMPLE_POLICIES)}, got {policy!r}")
    if not problems:
        return list(items)
    listed = "\n".join(f"  {p}" for p in sorted(problems, key=lambda p: p.index))
    if policy == "error":
        raise DataFormatError(
            f"{source}: {len(problems)} bad sample(s), refused (on_bad_sample=skip trains without them):\n{listed}"
        )
    bad = {p.index for p in problems}
    warnings.warn(f"{source}: skipped {len(bad)} bad sample(s):\n{listed}", BadSampleWarning, stacklevel=2)
    return [item for i, item in enumerate(items) if i not in bad]


def extract_answer(response: str) -> str | None:
    """The stripped text of the first ``<answer>…</answer>``; None when absent or empty."""
    match = _ANSWER.search(response)
    if match is None or not match.group(1).strip():
        return None
    return match.group(1).strip()


def resolve_image(path: str, root: Path | None) -> Path:
    """An image path as written in a data file: absolute, or relative to ``root``."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or root is None:
        return candidate
    return Path(root) / candidate


def decode_problem(path: Path) -> str | None:
    """Why ``path`` cannot be trained on (not a regular file, not a decodable image), or None.
    Preflight runs this on every training image: one bad image would otherwise crash a run hours in."""
    try:
        load_rgb(path)
    except FileNotFoundError:
        return f"image not found: {path}"
    except NotAnImageFile as exc:
        return str(exc)
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for a corrupt file
        return f"cannot decode image {path}: {type(exc).__name__}: {exc}"
    return None


# ---- Stage 1 -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage1Sample:
    prompt: str
    """The user turn; each ``<image>`` marks where one of ``images`` goes."""
    response: str
    """The assistant turn, ``<think>…</think>\\n\\n<answer>LABEL</answer>``."""
    images: tuple[str, ...]
    system: str | None = STAGE1_SYSTEM_PROMPT

    def answer(self) -> str | None:
        return extract_answer(self.response)

    def to_row(self) -> dict[str, Any]:
        """The release's JSON layout."""
        messages = [] if self.system is None else [{"role": "system", "content": self.system}]
        messages += [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": self.response}]
        return {"messages": messages, "images": list(self.images)}

    def chat_messages(self) -> list[dict[str, Any]]:
        """Messages with typed content blocks, as chat templates take them: the ``<image>``
        markers become image placeholders in place, which the collator fills with the images."""
        user: list[dict[str, Any]] = []
        for i, text in enumerate(self.prompt.split(IMAGE_MARKER)):
            if i:
                user.append({"type": "image"})
            if text:
                user.append({"type": "text", "text": text})
        system = [{"role": "system", "content": [{"type": "text", "text": self.system}]}]
        messages = [] if self.system is None else system
        messages += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": [{"type": "text", "text": self.response}]},
        ]
        return messages


def parse_stage1_row(row: object) -> Stage1Sample:
    """One decoded sample; raises ValueError naming what is wrong with its structure."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    messages, images = row.get("messages"), row.get("images", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("key 'messages' must be a list of objects")
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise ValueError("key 'images' must be a list of non-empty strings")
    roles = [m.get("role") for m in messages]
    if roles not in (["system", "user", "assistant"], ["user", "assistant"]):
        raise ValueError(f"expected roles [system,] user, assistant; got {roles}")
    if not all(isinstance(m.get("content"), str) for m in messages):
        raise ValueError("every message needs a string 'content'")
    system = messages[0]["content"] if roles[0] == "system" else None
    prompt, response = messages[-2]["content"], messages[-1]["content"]
    if prompt.count(IMAGE_MARKER) != len(images):
        markers = prompt.count(IMAGE_MARKER)
        raise ValueError(f"the user turn has {markers} {IMAGE_MARKER} marker(s) for {len(images)} image(s)")
    return Stage1Sample(prompt, response, tuple(images), system)


def load_stage1(path: Path) -> list[Stage1Sample]:
    """All samples of a Stage-1 JSON file; a structurally bad sample raises DataFormatError."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc.strerror})") from exc
    except ValueError as exc:
        raise DataFormatError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(rows, list):
        raise DataFormatError(f"{path}: expected a JSON list of samples")
    samples = []
    for index, row in enumerate(rows):
        try:
            samples.append(parse_stage1_row(row))
        except ValueError as exc:
            raise DataFormatError(f"{path}: sample {index}: {exc}") from None
    return samples


def write_stage1(path: Path, samples: Iterable[Stage1Sample]) -> None:
    atomic_write_json(Path(path), [s.to_row() for s in samples])


def check_stage1(
    samples: Sequence[Stage1Sample], image_root: Path | None, classes: Sequence[str] | None = None
) -> list[SampleProblem]:
    """Content problems: images that are not files, no ``<answer>``, a label outside ``classes``."""
    known = None if classes is None else set(classes)
    problems = []
    decoded: dict[Path, str | None] = {}
    for index, sample in enumerate(samples):
        for image in sample.images:
            path = resolve_image(image, image_root)
            if not path.is_file() and not path.exists():
                fetch = f"finebench data fetch cub cars dogs flowers pets aircraft --data-root {image_root or 'DIR'}"
                problems.append(SampleProblem(index, f"image not found: {path} "
                                                     f"(the released Stage-1 train images: `{fetch}`)"))
                continue
            if path not in decoded:
                decoded[path] = decode_problem(path)
            if decoded[path] is not None:
                problems.append(SampleProblem(index, decoded[path]))
        answer = sample.answer()
        if answer is None:
            problems.append(SampleProblem(index, "no <answer>…</answer> (or an empty one) in the assistant turn"))
        elif known is not None and answer not in known:
            problems.append(SampleProblem(index, f"label {answer!r} is not in the class list"))
    return problems


# ---- Stage 2 -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage2Sample:
    problem: str
    """The question, with an ``<image>`` marker where the image goes."""
    answer: str
    """The class name."""
    image: str
    """The anchor."""
    image_positive: str
    """Another image of the same class (the release's ``image_noisy``)."""
    image_negative: str
    """An image of the most similar other class (the release's ``image_aug``), same size as the anchor."""


def stage2_row(sample: Stage2Sample) -> dict[str, Any]:
    return {
        "problem": sample.problem,
        "answer": sample.answer,
        "images": [sample.image],
        "image_noisy": [sample.image_positive],
        "image_aug": [sample.image_negative],
    }


def write_stage2(path: Path, samples: Iterable[Stage2Sample]) -> None:
    """A ``.json`` list (what the released TAPO loader reads) or ``.jsonl`` lines."""
    path = Path(path)
    rows = [stage2_row(s) for s in samples]
    if path.suffix == ".jsonl":
        atomic_write_jsonl(path, rows)
    elif path.suffix == ".json":
        atomic_write_json(path, rows)
    else:
        raise DataFormatError(f"{path}: Stage-2 files are written as .json or .jsonl")


def load_stage2(
    path: Path, *, image_root: Path | None = None, extract_dir: Path | None = None, split: str = "train"
) -> list[Stage2Sample]:
    """Stage-2 samples from a ``.json``/``.jsonl``/``.parquet`` file or a folder of them.

    A folder (the Hub release's ``data/``) contributes its files named ``{split}*`` in name order.
    Relative image paths are resolved against ``image_root`` [default: the data file's folder];
    images embedded as bytes (the Hub's parquet) are written once, named by content hash, to
    ``extract_dir`` [default: a ``NAME.images`` folder beside ``path``], so every sample refers
    to its images by path.
    """
    path = Path(path)
    extract_dir = Path(extract_dir) if extract_dir is not None else path.with_name(path.name + ".images")
    samples = []
    for file in _stage2_files(path, split):
        base = Path(image_root) if image_root is not None else file.parent
        for index, row in enumerate(_read_rows(file)):
            try:
                samples.append(_parse_stage2_row(row, base, extract_dir))
            except ValueError as exc:
                raise DataFormatError(f"{file}: sample {index}: {exc}") from None
    return samples


def check_stage2_images(samples: Sequence[Stage2Sample], source: Path) -> None:
    """Every anchor, positive and negative image is a file, checked before training starts (a
    missing one would otherwise stop a run at the batch that first draws it). The error lists
    each missing image with its sample and column."""
    missing = [
        f"  sample {index}: key {key!r} ({STAGE2_IMAGE_ROLES[key].split(':')[0]}): {path}"
        for index, sample in enumerate(samples)
        for key, path in zip(STAGE2_IMAGE_COLUMNS, (sample.image, sample.image_positive, sample.image_negative),
                             strict=True)
        if not Path(path).is_file()
    ]
    if missing:
        shown = "\n".join(missing[:20]) + (f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise DataFormatError(f"{source}: {len(missing)} image(s) not found (relative paths are resolved against "
                              f"image_root, or the data file's folder):\n{shown}")
    decoded: dict[str, str | None] = {}
    for index, sample in enumerate(samples):
        for key, path in zip(STAGE2_IMAGE_COLUMNS, (sample.image, sample.image_positive, sample.image_negative),
                             strict=True):
            if path not in decoded:
                decoded[path] = decode_problem(Path(path))
            if decoded[path] is not None:
                raise DataFormatError(f"{source}: sample {index}: key {key!r}: {decoded[path]}")


def _stage2_files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        if path.suffix not in STAGE2_SUFFIXES:
            raise DataFormatError(f"{path}: Stage-2 data must be {', '.join(STAGE2_SUFFIXES)}")
        return [path]
    if not path.is_dir():
        raise DataFormatError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob(f"{split}*") if p.is_file() and p.suffix in STAGE2_SUFFIXES)
    if not files:
        raise DataFormatError(f"{path}: no {split}*{{{','.join(STAGE2_SUFFIXES)}}} files in this folder")
    return files


def _read_rows(file: Path) -> list[Any]:
    try:
        if file.suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                message = f"{file}: reading parquet needs pyarrow (pip install 'finebench[train]')"
                raise DataFormatError(message) from None
            return pq.read_table(file).to_pylist()
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        rows = json.loads(text)
    except OSError as exc:
        raise DataFormatError(f"{file}: cannot read ({exc})") from exc
    except ValueError as exc:
        raise DataFormatError(f"{file}: not valid {file.suffix[1:]} ({exc})") from exc
    if not isinstance(rows, list):
        raise DataFormatError(f"{file}: expected a JSON list of samples")
    return rows


def _parse_stage2_row(row: object, base: Path, extract_dir: Path) -> Stage2Sample:
    if not isinstance(row, dict):
        raise ValueError(f"expected an object, got {type(row).__name__}")
    for key in ("problem", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"key {key!r} must be a non-empty string")
    for key in STAGE2_IMAGE_COLUMNS:
        if row.get(key) in (None, [], ""):
            raise ValueError(f"missing key {key!r} ({STAGE2_IMAGE_ROLES[key]})")
    anchor, positive, negative = (_image_cell(row.get(key), key, base, extract_dir) for key in STAGE2_IMAGE_COLUMNS)
    return Stage2Sample(row["problem"], row["answer"], anchor, positive, negative)


def _image_cell(value: Any, key: str, base: Path, extract_dir: Path) -> str:
    """One image column: a path or an embedded image, alone or as a one-element list."""
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f"key {key!r} must hold exactly one image, got {len(value)}")
        value = value[0]
    if isinstance(value, dict) and value.get("bytes"):
        try:
            return str(_extract(value["bytes"], extract_dir))
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            raise ValueError(f"key {key!r}: embedded image cannot be decoded or written ({exc})") from None
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise ValueError(f"key {key!r} must be an image path or embedded image bytes")
    return str(resolve_image(value, base))


def _extract(data: bytes, extract_dir: Path) -> Path:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        suffix = "." + (image.format or "img").lower().replace("jpeg", "jpg")
    target = extract_dir / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
    if not target.is_file():
        extract_dir.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=extract_dir, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, target)
    return target
