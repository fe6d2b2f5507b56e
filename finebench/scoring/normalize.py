"""Label normalisation for the corrected protocol: the same rules on both sides of a comparison."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SEPARATORS = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 16)
def normalize_label(text: str) -> str:
    """NFKC (full-width letters, ligatures), casefold, every run of punctuation, underscores and
    whitespace -> one space. "Black-footed_Albatross" and "black footed  ALBATROSS" agree."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether normalised ``phrase`` occurs in normalised ``text`` at word boundaries
    ("tern" is not found in "eastern"); an empty phrase is never found."""
    return bool(phrase) and f" {phrase} " in f" {text} "
