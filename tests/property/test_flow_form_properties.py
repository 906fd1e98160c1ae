"""Any config or spec typed into the flow admin form is saved valid or shown back with errors.

Never a server error, and never a row that a run could not use.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adminflow.models import Flow
from adminflow.registry import flow_registry
from adminflow.runs.config import build_flow, get_flow_row, stored_config
from tests.admin.flow_helpers import SPEC

from .strategies import json_like, near_valid

pytestmark = pytest.mark.django_db

HOSTILE_TEXT = [
    '!!python/object/apply:os.system ["echo owned"]',
    "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]",
    "&a [*a]",
    "[" * 200,
    "due: 2024-02-30",
    "n: " + "9" * 5000,
    "x: .nan",
    "add: {numbers: [.inf]}",
    "? [a, b]\n: 1",
    "\x00",
    "- just\n- a list",
    "{{{",
]


def as_yaml(value: Any) -> str:
    """Return ``value`` as YAML text, or as its repr where YAML cannot write it (tuple keys)."""
    try:
        return yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return repr(value)


texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=100),
    json_like.map(as_yaml),
)


def numbers_configs() -> st.SearchStrategy[str]:
    default = flow_registry["numbers"].default_config
    paths = [[], ["numbers"], ["add"], ["add", "numbers"], ["increment"], ["total"]]
    return st.one_of(texts, near_valid(default, paths).map(as_yaml))


def spec_texts() -> st.SearchStrategy[str]:
    paths = [[], ["storer"], ["steps"], ["steps", 0], ["steps", 2, "depends_on"]]
    return st.one_of(texts, near_valid(SPEC, paths).map(as_yaml))


def post(client: Client, url: str, **fields: str) -> Any:
    """POST the flow form as its Save button does; roll back whatever it wrote afterwards."""
    data = {"description": "", "enabled": "on", "_save": "Save", **fields}
    return client.post(url, data)


HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(config=numbers_configs())
@example(config=HOSTILE_TEXT[0])
def test_a_typed_config_is_saved_valid_or_refused_never_a_server_error(
    admin_client: Client, config: str
) -> None:
    with transaction.atomic():
        row = get_flow_row("numbers")
        before = row.config

        response = post(
            admin_client, reverse("admin:adminflow_flow_change", args=[row.pk]), config=config
        )

        row.refresh_from_db()
        if response.status_code == 302:
            flow = build_flow(row)
            flow.with_config(stored_config(row, flow))
        else:
            assert response.status_code == 200
            assert response.context["adminform"].form.errors
            assert row.config == before
        transaction.set_rollback(True)


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(spec=spec_texts())
def test_a_typed_spec_is_saved_as_a_buildable_flow_or_refused_never_a_server_error(
    admin_client: Client, spec: str
) -> None:
    with transaction.atomic():
        response = post(admin_client, reverse("admin:adminflow_flow_add"), name="typed", spec=spec)

        row = Flow.objects.filter(name="typed").first()
        if response.status_code == 302:
            assert row is not None
            flow = build_flow(row)
            flow.with_config(stored_config(row, flow))
        else:
            assert response.status_code == 200
            assert response.context["adminform"].form.errors
            assert row is None
        transaction.set_rollback(True)
