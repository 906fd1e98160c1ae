"""``run_flow(flow)``: a flow file as its own command line, as courseflow scripts end.

``python my_flow.py -r config.yaml`` runs the flow with that config,
``-d FILE`` writes a config template, ``-v FILE`` checks a config, ``-l FILE``
appends the run's lines to a log file and ``-s`` prints nothing. Pure engine:
no Django, no database, nothing recorded; ``manage.py runflow`` is the way to
run a flow a site records. The exit codes are ``runflow``'s: 0 the run
succeeded (or the template was written, the config is valid), 1 the run
failed or was cancelled, 2 bad usage or config, with nothing run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from .documents import load_yaml, read_text_file
from .errors import AdminflowError, FlowConfigError
from .yaml_errors import yaml_problem

if TYPE_CHECKING:
    from .flow import AdminFlow

SUCCEEDED, FAILED, USAGE = 0, 1, 2


class ScriptError(AdminflowError):
    """Raise for a config file the script cannot use; the message names the file."""


def run_flow(flow: AdminFlow, argv: Sequence[str] | None = None) -> NoReturn:
    """Do what the command line (``argv``, else ``sys.argv``) asks of ``flow``, then exit.

    Exit with 0, 1 or 2 as the module says; argparse exits with 2 on bad usage.
    """
    options = _parser(flow).parse_args(argv)
    sys.exit(_act(flow, options))


def _parser(flow: AdminFlow) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f"{flow.name}: {flow.description}")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-r", "--run", metavar="FILE", help="run the flow with this config")
    action.add_argument("-d", "--describe", metavar="FILE", help="write a config template here")
    action.add_argument("-v", "--validate", metavar="FILE", help="check this config and exit")
    parser.add_argument("-l", "--logfile", metavar="FILE", help="also append the run's lines here")
    parser.add_argument("-s", "--silent", action="store_true", help="print nothing while running")
    return parser


def _act(flow: AdminFlow, options: argparse.Namespace) -> int:
    if options.describe:
        return _describe(flow, Path(options.describe))
    path = options.run or options.validate
    try:
        flow.config(_read_config(path))
    except FlowConfigError as exc:
        print(f"{exc}\n(config read from {path})", file=sys.stderr)
        return USAGE
    except AdminflowError as exc:  # the file could not be read
        print(exc, file=sys.stderr)
        return USAGE
    if options.validate:
        print(f"{options.validate}: a valid config for flow '{flow.name}'")
        return SUCCEEDED
    if options.silent:
        flow.silent()
    if options.logfile:
        flow.logfile(options.logfile)
    return SUCCEEDED if flow.run().succeeded else FAILED


def _describe(flow: AdminFlow, path: Path) -> int:
    try:
        path.write_text(flow.emit_config(), encoding="utf-8")
    except OSError as exc:
        print(f"cannot write the config template to '{path}': {exc.strerror}", file=sys.stderr)
        return USAGE
    return SUCCEEDED


def _read_config(path: str) -> Any:
    """Return the config in the YAML file at ``path``; raise ScriptError saying what is wrong."""
    text = read_text_file(path, "config file")
    try:
        config = load_yaml(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise ScriptError(f"config file '{path}' is not valid YAML{where}: {problem}") from None
    return {} if config is None else config  # an empty file: every key at its default
