"""Sphinx configuration of the sb3-reinforce documentation.

Build it with ``pip install -e ".[docs]"`` and ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

import os
import sys
from importlib import metadata

# the package of this checkout (autodoc imports it), also when it is not installed
sys.path.insert(0, os.path.abspath(".."))

try:
    import sb3_reinforce

    release = sb3_reinforce.__version__
except (ImportError, AttributeError):
    release = metadata.version("sb3-reinforce")
version = ".".join(release.split(".")[:2])

project = "sb3-reinforce"
author = "The sb3-reinforce developers"
copyright = "2026, The sb3-reinforce developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
# anchors for the headings of levels 1-3, so that pages can link to sections: [text](page.md#a-heading)
myst_heading_anchors = 3

# Files under docs/ that are not pages of the site: the build output, the
# reports and records that the scripts write (docs/benchmark/, docs/figures/, docs/pong/) and the generated
# tables, which docs/misc/results.md includes.
exclude_patterns = [
    "_build",
    "benchmark",
    "figures",
    "pong",
    "misc/_generated",
    "Thumbs.db",
    ".DS_Store",
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

html_theme = "sphinx_rtd_theme"
html_title = f"sb3-reinforce {release}"
html_theme_options = {"navigation_depth": 3}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
