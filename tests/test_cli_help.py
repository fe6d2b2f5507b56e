"""`--help` shows every default, `-h` and `--version` work, arguments have one label style.

typer's rich markup read every "[default: ...]" written into a help string as a markup tag and
dropped it ("--data-root ... ." with no default); the CLI renders plain help instead."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import finebench
from finebench.cli import app

ROOT = typer.main.get_command(app)


def commands(group=ROOT, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


ALL = sorted(commands(), key=lambda item: item[0])


def render(path: tuple[str, ...], flag: str = "--help") -> str:
    result = CliRunner().invoke(app, [*path, flag], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path, command", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_default_is_shown(path, command):
    text = " ".join(render(path).split())  # unwrap
    for param in command.params:
        if param.name == "help":
            continue
        written = param.help and "[default:" in param.help
        has_value = param.default not in (None, False, ()) and not param.required
        if written or has_value:
            label = param.opts[0] if param.param_type_name == "option" else param.display_name_raw
            segment = text.split(label, 1)[1][:600]
            assert "[default:" in segment, f"{' '.join(path)} {label}: no default in its help"
    assert "[default: ]" not in text and " . " not in text.replace("...", "")


def test_the_defaults_rich_markup_used_to_eat():
    text = " ".join(render(("run",)).split())
    for shown in ("[default: ~/.cache/finebench]", "[default: the task's, 3]", "[default: the task's]",
                  "[default: google/siglip-base-patch16-256]", "[default: OUTPUT_PATH/responses.sqlite]",
                  "[default: 8]", "[default: auto]"):
        assert shown in text
    assert "[default: the task's]" in " ".join(render(("score",)).split())
    assert "[default: every item]" in " ".join(render(("analyze", "pca")).split())
    assert "[default: google/siglip-base-patch16-256]" in " ".join(render(("export", "lmms-eval")).split())
    assert "[default: ~/.cache/finebench]" in " ".join(render(("data", "synth")).split())


@pytest.mark.parametrize("path", [(), ("run",), ("data", "fetch"), ("train", "sft")])
def test_h_is_help(path):
    assert render(path, "-h") == render(path)


def test_version():
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(app, [flag])
        assert result.exit_code == 0 and result.output == f"finebench {finebench.__version__}\n"


@pytest.mark.parametrize("path, command", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_arguments_are_labelled_in_capitals_and_flags_carry_no_type(path, command):
    text = render(path)
    for param in command.params:
        if param.param_type_name == "argument":
            label = param.display_name_raw
            assert label.isupper() or label == "KEY=VALUE", label
            assert label in text
    assert "<bool>" not in text and "{" + "predictions" + "}" not in text


def test_run_name_is_the_display_name_and_the_output_folder(tmp_path, monkeypatch):
    from finebench.data.demo import write_demo_data_root

    seen = {}

    def fake_run_model(card, config, **_):
        seen.update(card=card, config=config)
        return {"model": {"name": card.name, "display_name": card.display_name}, "results": {}, "groups": {}}

    monkeypatch.setattr("finebench.evaluation.session.run_model", fake_run_model)
    monkeypatch.chdir(tmp_path)
    root = write_demo_data_root(tmp_path / "data", items_per_file=1)
    result = CliRunner().invoke(app, ["run", "--model", "hf:checkpoints/x", "--tasks", "cub_closed_seen",
                                      "--data-root", str(root), "--name", "SFT, seed 1"])
    assert result.exit_code == 0, result.output
    assert seen["card"].display_name == "SFT, seed 1" and seen["card"].name == "hf:checkpoints/x"
    assert str(seen["config"].output_path) == "finebench-out/SFT_seed_1"
