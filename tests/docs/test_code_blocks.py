"""Every Python example in the docs and the README is code the test suite runs.

A fenced ``python`` block either is a doctest (``>>>`` lines, run by
``test_doctests``) or is quoted from a file the suite imports or runs: an
example under ``docs/examples/``, the example site (``courseadmin/``) or the
tests' sites (``tests/``). A block quoting a file in parts separates them with
a line ``...``. Longer examples are included from ``docs/examples/`` with
``literalinclude``, which is a file by construction. The one exception is
code of courseflow itself, in a block whose first line is ``# before``: it
shows what a site is moving from.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_python_blocks_are_quoted_from_code_the_suite_runs(page: Path) -> None:
    sources = source_texts()
    for block in python_blocks(page):
        assert not unproven_parts(block, sources), (
            f"{page.relative_to(ROOT)}: this example is neither a doctest nor quoted from "
            f"a file under docs/examples/, courseadmin/ or tests/:\n{block}"
        )


def test_a_block_found_nowhere_is_reported() -> None:
    sources = ["import os\n\nprint(os.sep)\n"]
    assert unproven_parts("import os\n", sources) == []
    assert unproven_parts("import os\n...\nprint(os.sep)\n", sources) == []
    assert unproven_parts("import sys\n", sources) == ["import sys\n"]
    assert unproven_parts(">>> 1 + 1\n2\n", sources) == []


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
