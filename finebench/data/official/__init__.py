"""Readers of the six official dataset layouts, each reducing its folder to a Manifest.

Readers are named here as "module:function" strings and imported only when used: importing
finebench.data stays cheap (scipy is needed by three of them) and nothing registers itself at
import time, so this dict is the complete list.

Policy shared by all readers: annotation files are validated (missing file, malformed line, label
out of range -> DataLayoutError naming the file and line or entry), but image files are never
opened or stat-ed. Reading stays fast on network storage and works from the annotation-only
downloads; ``finebench data check`` is the place that counts images missing under the data root.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from finebench.util.errors import DataLayoutError
from finebench.util.suggest import unknown_name_error

if TYPE_CHECKING:
    from finebench.data.manifest import Manifest

READERS: dict[str, str] = {
    "cub": "finebench.data.official.cub:read",
    "cars": "finebench.data.official.cars:read",
    "dogs": "finebench.data.official.dogs:read",
    "flowers": "finebench.data.official.flowers:read",
    "pets": "finebench.data.official.pets:read",
    "aircraft": "finebench.data.official.aircraft:read",
}

# File prefix of each dataset in the Fine-R1 release (eval/{prefix}_{seen,unseen}.jsonl); it is
# also the noun its questions use ("What kind of bird is this?").
RELEASE_PREFIX: dict[str, str] = {
    "cub": "bird",
    "cars": "car",
    "dogs": "dog",
    "flowers": "flower",
    "pets": "pet",
    "aircraft": "aircraft",
}


def read_official(dataset: str, source_dir: Path) -> Manifest:
    """Read ``source_dir`` (the dataset's extracted official folder) with the named reader."""
    if dataset not in READERS:
        raise unknown_name_error("dataset", dataset, READERS, hint=f"known: {', '.join(READERS)}")
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise DataLayoutError(f"{source_dir}: not a directory (expected the extracted official {dataset} folder)")
    module_name, _, function = READERS[dataset].partition(":")
    return getattr(importlib.import_module(module_name), function)(source_dir)
