"""What the README says about the command line and deployment is what the code does."""

from __future__ import annotations

import argparse
import re

from support.paths import REPO

from bot.cli.parser import parser

README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands() -> dict[str, argparse.ArgumentParser]:
    [sub] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_in_the_command_table_exists() -> None:
    rows = re.findall(r"^\| `paperboy ([a-z-]+)([^`]*)` \|", README, flags=re.MULTILINE)
    commands = _commands()
    assert {name for name, _ in rows} == set(commands)
    for name, usage in rows:
        known = {s for a in commands[name]._actions for s in a.option_strings}
        for option in re.findall(r"(?<![\w-])(-{1,2}[a-z][a-z-]*)", usage):
            assert option in known, f"README shows paperboy {name} {option}"


def test_exit_statuses_match() -> None:
    from bot.cli.parser import EXIT_ERRORS, EXIT_OK, EXIT_USAGE

    assert (EXIT_OK, EXIT_ERRORS, EXIT_USAGE) == (0, 1, 2)
    assert "**Exit status:** 0 on success; 1 for errors" in README
    assert "2 for\nusage errors" in README


def test_deploy_section_names_the_buildpack_file() -> None:
    assert "`requirements.txt`" in README
    assert (REPO / "requirements.txt").is_file()


def test_no_claim_that_every_key_is_optional() -> None:
    assert "every key is optional" not in README.lower()
