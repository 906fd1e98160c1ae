"""Integrations with the services courses run on, each installed as an extra.

Each subpackage imports adminflow's public API only, and its outside client
only when it is imported: ``adminflow.contrib.github`` needs
``pip install "adminflow[github]"``, ``adminflow.contrib.canvas``
``pip install "adminflow[canvas]"``.
"""
