"""The repository's root conftest: loads the skip policy plugin for every pytest run.

A plugin named in ``addopts`` (``-p``) is imported before pytest puts the
repository on ``sys.path``, so ``.venv/bin/pytest`` (the README's test
command) could not find ``tests``; a root conftest is loaded after.
"""

pytest_plugins = ["tests.skip_policy"]
