"""Every Python example in the docs and the README is code the test suite runs.

A fenced ``python`` block is one of:

- a doctest (``>>>`` lines), run by ``test_doctests``;
- quoted from a file the suite imports or runs: an example under
  ``docs/examples/``, the example site (``courseadmin/``) or the tests' sites
  (``tests/``), in parts separated by a line ``...`` if need be (longer
  examples are included from ``docs/examples/`` with ``literalinclude``, a
  file by construction);
- code of courseflow itself, in a block whose first line is ``# before``:
  what a site is moving from;
- any other block is run: a page's other blocks are executed in order, in one
  namespace, against the test suite's site (its settings, the example
  course's flows, a test database), as a reader would paste them into
  ``manage.py shell``. A block that only makes sense in a file of your own
  (``from .models import ...``) must be quoted from one instead.
"""

from __future__ import annotations

import doctest
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from adminflow.registry import _registries_now, _restore_registries, step_registry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])
PAGES = [page for page in PAGES if "_build" not in page.parts]
SOURCES = [DOCS / "examples", ROOT / "courseadmin", ROOT / "tests"]
FENCE = re.compile(r"^```python\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text())


def source_texts() -> list[str]:
    return [path.read_text() for folder in SOURCES for path in folder.rglob("*.py")]


def unproven_parts(block: str, sources: list[str]) -> list[str]:
    """Return the parts of ``block`` found in no source file (none for a doctest)."""
    if ">>>" in block or block.startswith("# before"):
        return []
    parts = re.split(r"^\.\.\.\n", block, flags=re.MULTILINE)
    return [part for part in parts if part.strip() and not any(part in s for s in sources)]


def blocks_to_run(page: Path) -> list[str]:
    """Return the page's blocks that are neither doctests, quoted, nor courseflow's."""
    sources = source_texts()
    return [block for block in python_blocks(page) if unproven_parts(block, sources)]


def run_blocks(page: Path) -> None:
    """Execute the page's blocks to run, in order, in one module; fail naming the block.

    The module is importable while they run, as a pasted script's ``__main__``
    is, so that dataclasses and pickling find it. Steps and flows the blocks
    register are unregistered after, as a failed autodiscovery leaves none.
    """
    module = ModuleType(f"docs_page_{page.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
    registries = _registries_now()
    try:
        for number, block in enumerate(blocks_to_run(page), start=1):
            name = f"{page.name}, python block {number} of those run"
            try:
                exec(compile(block, name, "exec"), module.__dict__)
            except Exception as exc:
                pytest.fail(f"{name} raised {exc!r}:\n{block}")
    finally:
        del sys.modules[module.__name__]
        _restore_registries(registries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_python_blocks_are_quoted_or_run(page: Path) -> None:
    run_blocks(page)


def test_a_block_found_nowhere_is_reported() -> None:
    sources = ["import os\n\nprint(os.sep)\n"]
    assert unproven_parts("import os\n", sources) == []
    assert unproven_parts("import os\n...\nprint(os.sep)\n", sources) == []
    assert unproven_parts("import sys\n", sources) == ["import sys\n"]
    assert unproven_parts(">>> 1 + 1\n2\n", sources) == []


def test_a_block_that_raises_fails_its_page(tmp_path: Path) -> None:
    page = tmp_path / "howto.md"
    page.write_text(
        "```python\nfrom dataclasses import dataclass\n\nfrom adminflow import AdminUpdateStep,"
        " register_step\n\n\n@dataclass\nclass Answer:\n    value: int\n\n\n@register_step\n"
        "class DocsPageStep(AdminUpdateStep):\n    pass\n```\n\n"
        "```python\nassert Answer(6 * 7).value == 41\n```\n"
    )
    assert len(blocks_to_run(page)) == 2
    with pytest.raises(pytest.fail.Exception, match="python block 2 of those run raised"):
        run_blocks(page)
    assert "DocsPageStep" not in step_registry


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if ">>>" in page.read_text()],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_doctests(page: Path) -> None:
    """Run the page's ``>>>`` examples, as ``python -m doctest`` would."""
    text = "\n".join(block for block in python_blocks(page) if ">>>" in block)
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, f"{page.relative_to(ROOT)}: {runner.failures} doctests failed"
