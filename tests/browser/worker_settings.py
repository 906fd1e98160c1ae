"""Settings of the browser tests' ``db_worker``: the suite's own, with a quick heartbeat.

A worker notices a cancel at its run's next heartbeat, and writes log lines
in batches: at the defaults (every 5 s, every 1 s) the cancel test would
spend most of its time waiting for them.
"""

from tests.settings import *  # noqa: F403

ADMINFLOW = {"HEARTBEAT_INTERVAL": 0.5, "LOG_FLUSH_INTERVAL": 0.2}
