"""finebench: fine-grained visual recognition benchmark, harness and training kit for MLLMs.

Kept import-light on purpose: the CLI imports this package on every start-up, so nothing heavy
(torch, transformers) may be imported here. The one thing it sets up is a clear ImportError for the
module paths of the old flat layout (``finebench.util.moved``).
"""

from finebench.util import moved as _moved

__version__ = "0.1.0"

_moved.install()
