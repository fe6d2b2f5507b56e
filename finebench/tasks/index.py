"""A lazy index of task and group YAML files (cf. lm-eval's ``tasks/_index.py``).

Building the index reads only each file's own top level to learn its name and kind; includes are
resolved and a task is validated only when it is loaded. ``finebench ls`` therefore stays fast and
one broken task file does not stop the others from running: a file whose top level cannot be
read is recorded in ``broken`` (``ls`` lists it) and only the names it would define are missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from finebench.tasks.config import TaskConfig, load_task_file, read_yaml_mapping
from finebench.util.errors import ConfigError, FinebenchError
from finebench.util.escaping import is_safe_name
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
        self.broken: dict[Path, str] = {}
        """Files that define nothing because they cannot be read: path -> the error."""
        for path in sorted(self.directory.rglob("*.yaml")):
            if not path.name.startswith("_"):
                try:
                    self._add(path)
                except ConfigError as exc:
                    self.broken[path] = str(exc)

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
            if not is_safe_name(data["task"]):
                raise ConfigError(f"{path}: key 'task' must be a safe name (letters, digits, '.', '_', '-'): it names "
                                  "the samples file")
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
            hint = "see `finebench ls`" + (f"; broken task files: {', '.join(p.name for p in self.broken)}"
                                           if self.broken else "")
            raise unknown_name_error("task or group", name, [*self.tasks, *self.groups], hint=hint)
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
    """``finebench ls``: one line per task, then per group, then per broken file (``NAME\tbroken\tWHY``),
    the name first (tab-separated)."""
    lines = [f"{name}\ttask\t{path.relative_to(index.directory)}" for name, path in index.tasks.items()]
    for group in index.groups.values():
        try:
            lines.append(f"{group.name}\tgroup\t{len(index.expand([group.name]))} tasks: {group.description}")
        except FinebenchError as exc:  # a member is missing or broken: only this group is unusable
            lines.append(f"{group.name}\tbroken\t{exc}")
    lines += [f"{path.stem}\tbroken\t{reason}" for path, reason in index.broken.items()]
    return "\n".join(lines) + "\n"
