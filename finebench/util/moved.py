"""Old module paths of the flat layout before finebench/ was regrouped into packages, answered with an
ImportError that names the new home instead of a bare "No module named ...".

Only a clear message, no aliasing: an alias would keep two names for one module alive forever, and
monkeypatching one name would silently miss the other.
"""

from __future__ import annotations

import sys

MOVED = {
    "finebench.errors": "finebench.util.errors",
    "finebench.fsutil": "finebench.util.fsutil",
    "finebench.jsonl": "finebench.util.jsonl",
    "finebench.suggest": "finebench.util.suggest",
    "finebench.resources": "finebench.util.resources",
    "finebench.compat": "finebench.util.compat",
    "finebench.scoring.encoders": "finebench.embeddings.text",
    "finebench.training.embeddings": "finebench.embeddings.images",
    "finebench.taskconfig": "finebench.tasks.config",
    "finebench.taskindex": "finebench.tasks.index",
    "finebench.items": "finebench.tasks.items",
    "finebench.prompts": "finebench.tasks.prompts",
    "finebench.strategies": "finebench.tasks",
    "finebench.strategies.icl": "finebench.tasks.icl",
    "finebench.strategies.clip_templates": "finebench.tasks.clip_templates",
    "finebench.instance": "finebench.adapters.instance",
    "finebench.runner": "finebench.evaluation.evaluator (RunConfig: finebench.evaluation.config; "
    "plan_task and friends: finebench.evaluation.plan)",
    "finebench.session": "finebench.evaluation.session",
    "finebench.cache": "finebench.evaluation.cache",
    "finebench.results": "finebench.evaluation.results",
    "finebench.rescore": "finebench.evaluation.rescore",
    "finebench.demo": "finebench.data.demo",
    "finebench.training.formats": "finebench.data.formats",
    "finebench.data.sources": "finebench.data.fetch.sources",
    "finebench.training.tapo_config": "finebench.training.tapo.config",
    "finebench.training.tapo_loss": "finebench.training.tapo.loss",
    "finebench.training.tapo_sampling": "finebench.training.tapo.sampling",
    "finebench.general": "finebench.interop.general",
    "finebench.lmms_export": "finebench.interop.lmms_export",
    "finebench.commands": "finebench.cli",
}
"""Old module -> where its contents live now. (finebench.training.tapo, .sft, .cot and .data.fetch
are packages now; their old names import, and the error comes from the missing attribute.)"""


class MovedModuleFinder:
    """Raises a helpful ImportError for an old finebench module path; declines everything else.
    (A meta path finder by protocol: subclassing importlib.abc's would import importlib.resources
    on every start-up, a tenth of `finebench ls`.)"""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ARG002 (the finder protocol)
        new = MOVED.get(fullname)
        if new is None:
            return None
        raise ModuleNotFoundError(f"{fullname} moved when finebench/ was regrouped into packages: import from {new}", name=fullname)


def install() -> None:
    """Put the finder last on ``sys.meta_path``, so that it only sees names nothing else found."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
