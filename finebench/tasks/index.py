"""A lazy index of task and group YAML files (cf. lm-eval's ``tasks/_index.py``).

Building the index reads only each file's own top level to learn its name and kind; includes are
resolved and a task is validated only when it is loaded. ``finebench ls`` therefore stays fast and
one broken task file does not stop the others from running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from finebench.tasks.config import TaskConfig, load_task_file, read_yaml_mapping
from finebench.util.errors import ConfigError
from finebench.util.resources import resource_dir
from finebench.util.suggest import unknown_name_error


@dataclass(frozen=True)
class GroupEntry:
    name: str
    members: tuple[str, ...]
    description: str
    path: Path


class TaskIndex:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or resource_dir("tasks")
        self.tasks: dict[str, Path] = {}
        self.groups: dict[str, GroupEntry] = {}
        for path in sorted(self.directory.rglob("*.yaml")):
            if not path.name.startswith("_"):
                self._add(path)

    def _add(self, path: Path) -> None:
        data = read_yaml_mapping(path)
        if "group" in data:
            name, members = data["group"], data.get("task")
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ConfigError(f"{path}: key 'task' of a group must be a list of task or group names")
            entry = GroupEntry(name, tuple(members), str(data.get("description", "")), path)
            self._claim(name, path)
            self.groups[name] = entry
        elif "task" in data:
            if not isinstance(data["task"], str):
                raise ConfigError(f"{path}: key 'task' must be a string")
            self._claim(data["task"], path)
            self.tasks[data["task"]] = path
        else:
            raise ConfigError(f"{path}: neither a task (key 'task') nor a group (key 'group'); "
                              "name include-only templates with a leading underscore")

    def _claim(self, name: str, path: Path) -> None:
        previous = self.tasks.get(name) or (self.groups[name].path if name in self.groups else None)
        if previous is not None:
            raise ConfigError(f"{path}: name {name!r} is already defined in {previous}")

    def expand(self, names: list[str]) -> list[str]:
        """Task names for a list of task/group names: groups expanded, duplicates dropped, order kept."""
        ordered: dict[str, None] = {}
        for name in names:
            for task in self._expand_one(name, ()):
                ordered[task] = None
        return list(ordered)

    def _expand_one(self, name: str, stack: tuple[str, ...]) -> list[str]:
        if name in self.tasks:
            return [name]
        if name not in self.groups:
            raise unknown_name_error("task or group", name, [*self.tasks, *self.groups], hint="see `finebench ls`")
        if name in stack:
            raise ConfigError(f"{self.groups[name].path}: group cycle {' -> '.join((*stack, name))}")
        return [t for member in self.groups[name].members for t in self._expand_one(member, (*stack, name))]

    def load(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            raise unknown_name_error("task", name, self.tasks, hint="see `finebench ls`")
        config = load_task_file(self.tasks[name])
        return config

    def groups_covered_by(self, tasks: list[str]) -> list[GroupEntry]:
        """Groups all of whose tasks are in ``tasks`` (the groups a run can report)."""
        have = set(tasks)
        return [g for g in self.groups.values() if set(self._expand_one(g.name, ())) <= have]


def task_listing(index: TaskIndex) -> str:
    """``finebench ls``: one line per task, then per group, the name first (tab-separated)."""
    lines = [f"{name}\ttask\t{path.relative_to(index.directory)}" for name, path in index.tasks.items()]
    lines += [f"{g.name}\tgroup\t{len(index.expand([g.name]))} tasks: {g.description}" for g in index.groups.values()]
    return "\n".join(lines) + "\n"
