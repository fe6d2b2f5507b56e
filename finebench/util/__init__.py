"""Small shared utilities at the bottom of the house: errors, atomic file writes, JSON/JSONL reading
of untrusted files, escaping for HTML/Markdown/CSV, name suggestions, the shipped resource folders,
image decoding and the qwen_vl_utils resize rule, local-path vs Hub-id decisions, ``k=v`` argument
strings, markers of generated data, version shims and the old-module-path messages.

May import: the standard library and third-party packages only (no other finebench package)."""
