"""`--help` teaches: every option says what it does, input folders are not called OUT, tasks are listed
by their canonical names with the aliases apart, and export and quantize spell the mode option alike."""

from __future__ import annotations

import argparse
import re

import pytest

from prelnedge.cli import build_parser
from prelnedge.tasks import TASKS


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(subcommands()))
def test_every_option_has_help_and_inputs_are_not_called_out(name):
    parser = subcommands()[name]
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue  # an accepted alias kept out of help (--mode)
        assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
        if not action.option_strings:  # a positional: always an input folder
            assert action.metavar != "OUT", f"{name}'s input {action.dest} is labelled OUT"


def test_task_help_lists_canonical_names_then_aliases():
    flat = " ".join(subcommands()["export"].format_help().split())
    canonical = ", ".join(TASKS)
    assert f"Tasks: {canonical} (aliases: feature-extraction = base;" in flat
    assert "question-answering = qa)" in flat


def test_validate_explains_model():
    flat = " ".join(subcommands()["validate"].format_help().split())
    assert "--model CKPT the checkpoint the folder was exported from" in flat


@pytest.mark.parametrize("name", ["export", "quantize"])
def test_mode_option_is_spelled_quantize_and_mode_is_accepted(name):
    parser = subcommands()[name]
    flat = " ".join(parser.format_help().split())
    assert "--quantize MODE" in flat and not re.search(r"--mode\b", flat)
    args = ["--task", "qa", "--target", "onnx"] if name == "export" else ["folder", "--out", "o"]
    assert parser.parse_args([*args, "--mode", "fp16"]).mode == "fp16"
    assert parser.parse_args([*args, "--quantize", "fp16"]).mode == "fp16"


def test_debug_is_accepted_after_the_subcommand():
    parser = build_parser()
    assert parser.parse_args(["info", "--debug"]).debug is True
    assert parser.parse_args(["--debug", "info"]).debug is True
    assert parser.parse_args(["info"]).debug is False
