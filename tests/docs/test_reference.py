"""The reference pages that are written by hand stay true to the code.

(The settings, each command's options and the permissions are generated from
the package when the docs are built; these tests cover the rest.)
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from django.core.management import load_command_class

from adminflow.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
CHECK_ID = re.compile(r"adminflow\.[EW]\d{3}")


def check_ids_raised() -> set[str]:
    """Return every check id the package reports, found where checks are built."""
    ids: set[str] = set()
    for path in (ROOT / "adminflow").rglob("*.py"):
        ids |= set(re.findall(r'id="(adminflow\.[EW]\d{3})"', path.read_text()))
    return ids


def test_every_check_id_is_documented_and_no_other() -> None:
    documented = set(CHECK_ID.findall((REFERENCE / "checks.md").read_text()))
    raised = check_ids_raised()
    assert raised, "no check ids found in adminflow/"
    assert sorted(raised - documented) == [], "add these to docs/reference/checks.md"
    assert sorted(documented - raised) == [], "docs/reference/checks.md names ids never raised"


def runflow_examples() -> list[list[str]]:
    text = (REFERENCE / "commands.md").read_text()
    lines = re.findall(r"^python manage\.py runflow (.*)$", text, flags=re.MULTILINE)
    return [shlex.split(line, comments=True) for line in lines]


@pytest.mark.parametrize("args", runflow_examples(), ids=" ".join)
def test_runflow_examples_parse_and_name_files_that_exist(args: list[str]) -> None:
    parser = load_command_class("adminflow", "runflow").create_parser("manage.py", "runflow")
    options = parser.parse_args(args)
    if options.config:
        assert (ROOT / options.config).is_file(), options.config


def test_settings_table_lists_every_setting_in_order_with_its_meaning() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from adminflow_docs import settings_groups
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    groups = settings_groups()
    assert [key for entries, _ in groups for key, _ in entries] == list(DEFAULTS)
    assert all(comment and not comment.endswith("...") for _, comment in groups)
    defaults = {key: default for entries, _ in groups for key, default in entries}
    assert defaults == DEFAULTS


def test_permissions_page_lists_every_permission_the_models_add() -> None:
    from django.apps import apps

    declared = {
        f"adminflow.{codename}"
        for model in apps.get_app_config("adminflow").get_models()
        for codename, _ in model._meta.permissions
    }
    text = (REFERENCE / "permissions.md").read_text()
    documented = set(re.findall(r"^\| `(adminflow\.\w+)` \|", text, flags=re.MULTILINE))
    assert declared
    assert documented == declared
