"""Registries of step types and flows, filled from installed apps' ``steps`` and ``flows``.

Built like ``admin.site``: a class holding a ``_registry`` dict, one module
instance of each, and errors that name the thing. Registration is explicit
(a decorator or a call), never a side effect of subclassing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from typing import Any, TypeVar, overload

from .engine import AdminFlow, AdminflowError, AdminStep, RecordStorer

T = TypeVar("T", bound=type)


class AlreadyRegistered(AdminflowError):
    """Raise when a name is registered twice."""


class NotRegistered(AdminflowError, KeyError):
    """Raise when a name is looked up that was never registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class StepRegistry(Mapping[str, type]):
    """Step and storer classes by the names flow specs use for them."""

    def __init__(self) -> None:
        self._registry: dict[str, type] = {}

    def register(self, cls: type, name: str | None = None) -> type:
        if not (inspect.isclass(cls) and issubclass(cls, AdminStep | RecordStorer)):
            raise TypeError(f"{cls!r} is not a step or record storer class")
        name = name or cls.__name__
        if name in self._registry:
            other = self._registry[name]
            raise AlreadyRegistered(
                f"step type '{name}' is already registered ({other.__module__}.{other.__qualname__})"
            )
        self._registry[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        if name not in self._registry:
            raise NotRegistered(f"step type '{name}' is not registered")
        del self._registry[name]

    def is_registered(self, name: str) -> bool:
        return name in self._registry

    def __getitem__(self, name: str) -> type:
        try:
            return self._registry[name]
        except KeyError:
            known = ", ".join(sorted(self._registry)) or "none"
            raise NotRegistered(f"step type '{name}' is not registered (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)


class FlowRegistry(Mapping[str, AdminFlow]):
    """Flows defined in code, by name."""

    def __init__(self) -> None:
        self._registry: dict[str, AdminFlow] = {}
        self._starts_disabled: set[str] = set()

    def register(self, flow: AdminFlow, *, enabled: bool = True) -> AdminFlow:
        """Register ``flow``; ``enabled=False`` makes the ``Flow`` row created for it disabled.

        A flow that acts outside (GitHub, an LMS) may need an account or a
        token before it can run: its row then starts disabled, staff enable
        it once it is configured. A row that exists already is never changed.
        """
        if not isinstance(flow, AdminFlow):
            raise TypeError(f"{flow!r} is not an AdminFlow")
        if flow.name in self._registry:
            raise AlreadyRegistered(f"flow '{flow.name}' is already registered")
        self._registry[flow.name] = flow
        if not enabled:
            self._starts_disabled.add(flow.name)
        return flow

    def unregister(self, name: str) -> None:
        if name not in self._registry:
            raise NotRegistered(f"flow '{name}' is not registered")
        del self._registry[name]
        self._starts_disabled.discard(name)

    def is_registered(self, name: str) -> bool:
        return name in self._registry

    def starts_enabled(self, name: str) -> bool:
        """Return whether the ``Flow`` row created for registered flow ``name`` is enabled."""
        return name not in self._starts_disabled

    def __getitem__(self, name: str) -> AdminFlow:
        try:
            return self._registry[name]
        except KeyError:
            known = ", ".join(sorted(self._registry)) or "none"
            raise NotRegistered(f"flow '{name}' is not registered (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)


step_registry = StepRegistry()
flow_registry = FlowRegistry()


@overload
def register_step(cls: T, *, name: str | None = ..., registry: StepRegistry | None = ...) -> T: ...
@overload
def register_step(
    cls: None = ..., *, name: str | None = ..., registry: StepRegistry | None = ...
) -> Callable[[T], T]: ...
def register_step(
    cls: Any = None, *, name: str | None = None, registry: StepRegistry | None = None
) -> Any:
    """Register a step or storer class: ``@register_step``, ``@register_step(name=...)``
    or ``register_step(Cls)``. The name defaults to the class name."""
    target = registry if registry is not None else step_registry

    def decorate(step_cls: T) -> T:
        target.register(step_cls, name)
        return step_cls

    return decorate if cls is None else decorate(cls)


F = TypeVar("F", bound=Callable[[], AdminFlow])


@overload
def register_flow(
    flow: AdminFlow, *, registry: FlowRegistry | None = ..., enabled: bool = ...
) -> AdminFlow: ...
@overload
def register_flow(flow: F, *, registry: FlowRegistry | None = ..., enabled: bool = ...) -> F: ...
@overload
def register_flow(
    flow: None = ..., *, registry: FlowRegistry | None = ..., enabled: bool = ...
) -> Callable[[F], F]: ...
def register_flow(
    flow: Any = None, *, registry: FlowRegistry | None = None, enabled: bool = True
) -> Any:
    """Register a flow: ``register_flow(flow)``, or decorate a function that builds one
    (``@register_flow`` or ``@register_flow(registry=..., enabled=False)``).

    The decorated function is called once, at registration, and returned as is.
    ``enabled=False``: the flow's ``Flow`` row starts disabled (see
    :meth:`FlowRegistry.register`).
    """
    target = registry if registry is not None else flow_registry
    if flow is None:
        return lambda builder: register_flow(builder, registry=target, enabled=enabled)
    if isinstance(flow, AdminFlow):
        return target.register(flow, enabled=enabled)
    if not callable(flow):
        raise TypeError(
            f"register_flow takes an AdminFlow or a function returning one, not {flow!r}"
        )
    built = flow()
    if not isinstance(built, AdminFlow):
        raise TypeError(
            f"{getattr(flow, '__qualname__', flow)!r} returned {built!r}, not an AdminFlow"
        )
    target.register(built, enabled=enabled)
    return flow


def autodiscover() -> None:
    """Import every installed app's ``steps`` and ``flows`` module, so they register.

    A module that raises half way is undone before the error goes on, as
    Django's admin does with ``register_to``: both registries are put back as
    they were before its import, so a broken module leaves no half-registered
    flow behind (and a second import of it, say at the next request, does not
    fail on what the first one did register). A missing module is skipped.
    """
    # Imported here so that ``import adminflow`` (and so a steps module) loads no Django.
    from django.apps import apps
    from django.utils.module_loading import module_has_submodule

    for app_config in apps.get_app_configs():
        for name in ("steps", "flows"):
            before = _registries_now()
            try:
                import_module(f"{app_config.name}.{name}")
            except Exception:
                _restore_registries(before)
                if module_has_submodule(app_config.module, name):
                    raise


def _registries_now() -> tuple[dict[str, type], dict[str, AdminFlow], set[str]]:
    return (
        dict(step_registry._registry),
        dict(flow_registry._registry),
        set(flow_registry._starts_disabled),
    )


def _restore_registries(state: tuple[dict[str, type], dict[str, AdminFlow], set[str]]) -> None:
    step_registry._registry, flow_registry._registry, flow_registry._starts_disabled = state
