"""Every ``pipeline ...`` line of the README's shell blocks parses with the real command line
(a README example the CLI refuses — as ``dlq requeue --bootstrap B 0:17`` once was — fails)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipeline.bench.apply import build_parser as apply_parser
from pipeline.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```(?:sh|bash|console)\n(.*?)```", re.S)


def _commands() -> list[str]:
    found = []
    for block in _BLOCK.findall(README.read_text(encoding="utf-8")):
        text = block.replace("\\\n", " ")
        found += [line.strip() for line in text.splitlines() if line.startswith("pipeline ")]
    return found


def _words(line: str) -> list[str]:
    line = line.replace('"$(cat command.json)"', "'{}'")
    line = re.sub(r"\s\[(--[\w-]+)\]", r" \1", line)  # `[--json]`: an optional flag, shown
    return shlex.split(line, comments=True)[1:]


def test_the_readme_has_pipeline_commands() -> None:
    assert len(_commands()) >= 10


@pytest.mark.parametrize("line", _commands())
def test_a_readme_command_parses(line: str) -> None:
    words = _words(line)
    # `bench apply` hands the rest of its line to a parser of its own: parse it there.
    parser, args = (
        (apply_parser(), words[2:]) if words[:2] == ["bench", "apply"] else (build_parser(), words)
    )
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"the CLI refuses the README's `{line}` (exit {exc.code})")
