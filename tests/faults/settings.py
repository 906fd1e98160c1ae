"""Settings of the fault tests' processes: the suite's own, with quick heartbeats.

A run whose process was killed is found by its missing heartbeat: beating
every 0.2 s, with runs stale after 1 s, a test finds it in about a second.
On PostgreSQL the processes' connections carry their own
``application_name``, so that a test can end exactly those.
"""

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

APPLICATION_NAME = "adminflow-fault"
ADMINFLOW = {"HEARTBEAT_INTERVAL": 0.2, "LOG_FLUSH_INTERVAL": 0.2, "STALE_AFTER": 1.0}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A copy: the suite's own settings, which the test process uses, keep no such name.
    _default = DATABASES["default"]
    DATABASES = {
        "default": {
            **_default,
            "OPTIONS": {**_default.get("OPTIONS", {}), "application_name": APPLICATION_NAME},
        }
    }
