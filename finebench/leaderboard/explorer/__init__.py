"""``finebench view``: a static per-sample explorer of one or more runs (one folder, index.html plus
JavaScript data files, opened from file:// without a server).

``collect`` reads runs into per-item records, ``thumbs`` makes bounded thumbnails, ``write`` lays
out the folder; ``assets/`` holds the page and its script, which builds every element with
``textContent`` because results and samples files are untrusted input.
"""
