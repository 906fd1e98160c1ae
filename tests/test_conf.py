"""adminflow's settings: one ADMINFLOW dict over documented defaults, re-read when it changes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from adminflow.conf import DEFAULTS, adminflow_settings


def test_every_setting_has_its_default_when_adminflow_is_not_set():
    assert adminflow_settings.user_settings == {}
    for name, default in DEFAULTS.items():
        assert getattr(adminflow_settings, name) == default
    assert adminflow_settings.HEARTBEAT_INTERVAL == 5.0
    assert adminflow_settings.TASK_QUEUE == "default"


def test_overriding_adminflow_is_seen_at_once_and_undone_after():
    assert adminflow_settings.STALE_AFTER == 60.0  # read, so the merged values are cached

    with override_settings(ADMINFLOW={"STALE_AFTER": 5.0, "TASK_QUEUE": "flows"}):
        assert adminflow_settings.STALE_AFTER == 5.0
        assert adminflow_settings.TASK_QUEUE == "flows"
        assert adminflow_settings.HEARTBEAT_INTERVAL == 5.0  # not overridden: the default

    assert adminflow_settings.STALE_AFTER == 60.0
    assert adminflow_settings.TASK_QUEUE == "default"


@override_settings(ADMINFLOW=None)
def test_adminflow_set_to_none_means_all_defaults():
    assert DEFAULTS["LOG_BATCH_SIZE"] == adminflow_settings.LOG_BATCH_SIZE


@override_settings(ADMINFLOW="STALE_AFTER=5")
def test_adminflow_that_is_not_a_dict_is_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match=r"settings\.ADMINFLOW must be a dict, got str"):
        adminflow_settings.STALE_AFTER  # noqa: B018


def test_an_unknown_setting_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'HEARTBEAT' is not an ADMINFLOW setting"):
        adminflow_settings.HEARTBEAT  # noqa: B018
    assert not hasattr(adminflow_settings, "STALE")
