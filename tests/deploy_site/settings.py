"""Settings of the deploy processes: the suite's own, with this app installed."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.deploy_site"]
