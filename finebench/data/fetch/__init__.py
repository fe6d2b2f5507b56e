"""`finebench data fetch`: the pinned sources, downloading, safe extraction, placing into the data
root and the command-level run over several datasets."""
