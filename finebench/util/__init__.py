"""Small shared utilities at the bottom of the house: errors, atomic file writes, JSONL reading, name
suggestions, the shipped resource folders, image decoding and version shims.

May import: the standard library and third-party packages only (no other finebench package)."""
