"""Where a model card's weights are and what identifies them, shared by every local backend.

A card names a hub id, a local folder or ``builtin:NAME``; ``resolve_source`` turns that into what
``from_pretrained`` takes, and ``files_digest`` into a cache fingerprint that changes when the
checkpoint on disk does (so retrained weights never get the old weights' cached answers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from finebench.models.cards import ModelCard
from finebench.util.errors import FinebenchError
from finebench.util.hub import Located, locate

BUILTIN_PREFIX = "builtin:"

WEIGHT_SUFFIXES = frozenset({".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx"})
"""Files that are fingerprinted by name, size and mtime instead of content (too big to hash)."""


def locate_card(card: ModelCard) -> Located:
    """The card's weights: ``builtin:NAME`` built on first use, else a local folder or a Hub id,
    checked by ``finebench.util.hub.locate`` (a missing folder or an unreachable Hub fails here)."""
    if card.model.startswith(BUILTIN_PREFIX):
        from finebench.models.builtin import resolve_builtin

        return Located(str(resolve_builtin(card.model[len(BUILTIN_PREFIX) :])))
    return locate(card.model, f"model {card.name!r}")


def resolve_source(card: ModelCard) -> str:
    """A local directory (absolute) or a hub id; ``builtin:NAME`` is built on first use."""
    return locate_card(card).source


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when a GPU is visible, else cpu; a CUDA device asked for on a machine
    without one is refused here, before any weights are read."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FinebenchError(f"--device {device}: no CUDA GPU is visible to torch here; use --device cpu (or auto)")
    return device


def model_dir(source: str) -> tuple[Path | None, str | None]:
    """The folder the checkpoint was read from and its hub commit (None for a local folder)."""
    path = Path(source)
    if path.is_dir():
        return path, None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, "config.json")
    if isinstance(cached, str):  # .../snapshots/<commit>/config.json
        snapshot = Path(cached).parent
        return snapshot, snapshot.name
    return None, None


def checkpoint_revision(source: str) -> str | None:
    """``rev=COMMIT|files=DIGEST`` of a local folder or cached hub snapshot (``rev=local`` for a
    folder), the part of every local backend's fingerprint that tracks the weights; None when the
    checkpoint cannot be found on disk."""
    directory, commit = model_dir(source)
    if directory is None:
        return None
    return f"rev={commit or 'local'}|files={files_digest(directory)}"


def files_digest(directory: Path) -> str:
    """Content hash of the small files (configs, tokenizer, chat template, remote code) plus
    name/size/mtime of the weight files: a retrained checkpoint saved over the same folder keeps
    its config.json but not its weights' mtimes, and must not be served cached responses."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        if path.suffix in WEIGHT_SUFFIXES:
            stat = path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
