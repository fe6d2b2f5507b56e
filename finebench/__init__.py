"""finebench: fine-grained visual recognition benchmark, harness and training kit for MLLMs.

Kept import-light on purpose: the CLI imports this package on every start-up, so nothing heavy
(torch, transformers) may be imported here.
"""

__version__ = "0.1.0"
