"""Sphinx configuration for adminflow's documentation.

Why Sphinx with MyST rather than MkDocs: the reference is generated from the
package itself (autodoc for the engine and step API, the settings from
``adminflow.conf``, each command's options from its own parser), which is
what Sphinx's autodoc and a few lines of extension do well; MyST lets every
page be Markdown, so the how-to guides that features bring along
(``docs/howto/*.md``) fit in as written. Furo is a clean, readable theme with
a dark mode and no JavaScript framework. The build runs with ``-W``: any
warning (a broken cross-reference, a missing include, a docstring that does
not parse) fails it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext"), str(DOCS)]

# The Django parts (models, admin, commands, signals) need a configured Django;
# docs_settings is the smallest site that installs adminflow.
os.environ["DJANGO_SETTINGS_MODULE"] = "docs_settings"
import django  # noqa: E402

django.setup()

import adminflow  # noqa: E402

project = "adminflow"
copyright = "adminflow's authors"
release = adminflow.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "adminflow_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
# No network at build time: intersphinx inventories are not fetched.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "furo"
html_title = f"adminflow {release}"
