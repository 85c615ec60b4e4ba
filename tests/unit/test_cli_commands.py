"""group.COMMANDS names every command each tether.cli module registers, and nothing else."""

import importlib
import pkgutil

import click

import tether.cli
from tether.cli.group import COMMANDS


def test_commands_map_every_registered_command_to_its_module() -> None:
    registered: dict[str, str] = {}
    for info in pkgutil.iter_modules(tether.cli.__path__):
        module = importlib.import_module(f"tether.cli.{info.name}")
        if info.name != "main" and hasattr(module, "register"):
            group = click.Group()
            module.register(group)
            registered.update(dict.fromkeys(group.commands, info.name))
    assert registered == COMMANDS
