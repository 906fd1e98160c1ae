"""The flow change form: config and spec as YAML, checked the way a run will check them.

A config is judged by ``flow.with_config()`` and a spec by building the flow
from it (``AdminFlow.from_spec`` with the step registry, through
:func:`adminflow.runs.config.build_flow`), so the admin accepts exactly what a
run accepts. Each problem is listed on its field with its key and the line
of that key in the YAML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..engine import AdminFlow, AdminflowError, ConfigProblem, FlowConfigError
from ..engine.spec import parse_spec_text
from ..models import Flow
from ..registry import flow_registry
from ..runs.config import build_flow
from ..schedule.cron import site_zone
from .secrets import config_sections, masked, restore_secrets, secret_keys, spec_sections
from .yaml_field import line_of


def built_flow(row: Flow) -> tuple[AdminFlow | None, str]:
    """Return the flow ``row`` stands for, or None and the reason it cannot be built."""
    try:
        return build_flow(row), ""
    except AdminflowError as exc:
        return None, str(exc)


def stored_spec(row: Flow) -> Any:
    """Return a row's spec as data (a spec may have been stored as YAML or JSON text)."""
    if isinstance(row.spec, str):
        try:
            return parse_spec_text(row.spec)
        except FlowConfigError:
            return None
    return row.spec


def is_data_defined(row: Flow | None) -> bool:
    """Return whether the row's flow comes from its spec (always so for a new row)."""
    return row is None or row.pk is None or row.spec is not None or row.name not in flow_registry


def problem_list(problems: Iterable[ConfigProblem], text: str) -> list[SafeString]:
    """Return each problem as a message naming its key and that key's line in ``text``.

    They come in the order of their lines, as someone fixing them reads the
    YAML: top to bottom; those no line can be given for (a whole section's,
    a key left out of the text) come last, in the order found.
    """
    placed = []
    for order, problem in enumerate(problems):
        line = line_of(text, problem.path) if problem.path else None
        where = format_html(" (line {})", line) if line else ""
        if problem.path:
            message = format_html("<code>{}</code>{}: {}", problem.path, where, problem.message)
        else:
            message = format_html("{}", problem.message)
        placed.append((line is None, line or 0, order, message))
    return [message for *_position, message in sorted(placed)]


class FlowForm(forms.ModelForm):
    """Edit a flow; the admin gives ``config`` and ``spec`` YAML fields where they are shown."""

    class Meta:
        model = Flow
        fields = [
            "name",
            "description",
            "enabled",
            "config",
            "spec",
            "schedule",
            "schedule_enabled",
            "schedule_starts",
            "schedule_ends",
            "notify_emails",
            "notify_on_success",
            "plan_required",
            "plan_max_drop_share",
            "plan_max_intents",
            "plan_two_person",
            "access_groups",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        flow = built_flow(self.instance)[0] if self.instance.pk else None
        # The keys shown masked: a mask sent back in one of them keeps the stored value.
        self.secret_keys = secret_keys(flow)
        if "config" in self.fields:
            self.initial["config"] = masked(self.instance.config, config_sections, self.secret_keys)
        if "spec" in self.fields:
            spec = stored_spec(self.instance)
            self.initial["spec"] = masked(spec, spec_sections, self.secret_keys)
        if "schedule" in self.fields:
            field = self.fields["schedule"]
            field.help_text = f"{field.help_text} The site's time zone: {site_zone()}."
        if "schedule_enabled" in self.fields and not self.instance.schedule:
            # Nothing to switch on: shown off until a schedule is typed (flow_form.js ticks it).
            self.initial["schedule_enabled"] = False
        if "plan_required" in self.fields:
            self.fields["plan_required"].required = False

    def clean_plan_required(self) -> str:
        # A form posted without it (an older page, a script) keeps the flow's policy.
        return self.cleaned_data.get("plan_required") or self.instance.plan_required

    def clean_config(self) -> Any:
        config = self.cleaned_data["config"]
        return {} if config is None else config

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        stored = {"spec": stored_spec(self.instance), "config": self.instance.config}
        for field, sections_of in (("spec", spec_sections), ("config", config_sections)):
            if field in cleaned:
                problems = restore_secrets(
                    cleaned[field], stored[field], sections_of, self.secret_keys
                )
                self._fail(field, problems)
        flow = self._checked_flow(cleaned)
        if flow is not None and "config" in cleaned:
            try:
                flow.with_config(cleaned["config"] or flow.default_config)
            except FlowConfigError as exc:
                self._fail("config", exc.problems)
        return cleaned

    def _checked_flow(self, cleaned: dict[str, Any]) -> AdminFlow | None:
        """Return the flow the submitted name and spec define, or None with the spec's problems."""
        if "spec" in self.errors or "name" in self.errors:
            return None
        name = cleaned.get("name", self.instance.name)
        spec = cleaned["spec"] if "spec" in self.fields else self.instance.spec
        if spec is None and name not in flow_registry:
            self.add_error(
                "spec" if "spec" in self.fields else None,
                f"Flow '{name}' is not registered by any installed app, so it needs a spec: "
                "its storer and steps.",
            )
            return None
        try:
            # Registered step types only: editing a flow must not import arbitrary modules.
            return build_flow(Flow(name=name, spec=spec), imports=False)
        except FlowConfigError as exc:
            self._fail("spec", exc.problems)
        except AdminflowError as exc:
            self.add_error(None, str(exc))
        return None

    def _fail(self, field: str, problems: list[ConfigProblem]) -> None:
        if problems:
            text = self.data.get(self.add_prefix(field), "") if field in self.fields else ""
            self.add_error(field if field in self.fields else None, problem_list(problems, text))
