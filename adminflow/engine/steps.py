"""Step base classes, in the seed's names and in courseflow's later ones.

A step class declares ``description`` and ``config_types``; the flow builds
it with its checked config and calls one method with the seed's arguments.
Steps written against courseflow's later signatures (a record step that also
takes ``get_metadata``, a propagate step that also takes ``set_metadata``) work
too: :func:`plan_call` reads which arguments a method takes once, when the
step is added, so each call passes exactly those.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from .config import Configs
from .errors import ConfigProblem
from .limits import limit_problem
from .retries import RetryPolicy

T = TypeVar("T")

Logger = Callable[[str], None]
GetMetadata = Callable[[str], Any]
SetMetadata = Callable[[str, Any], None]
LockedRecords = list[tuple[T, threading.Lock]]


class StepKind(StrEnum):
    """The three kinds of step, in the order their phases run."""

    RECORD = "record"
    UPDATE = "update"
    PROPAGATE = "propagate"


class Configurable:
    """What steps and storers share: a description, a config schema, a check."""

    description: ClassVar[str] = ""
    config_types: ClassVar[Sequence[tuple[Any, ...]]] = ()

    def __init__(self, configs: Configs) -> None:
        self.configs = configs

    def validate(self) -> None:
        """Refuse a config that the types alone cannot judge, by raising.

        Called once, when the flow is configured; a raised exception (or a
        return value of ``False``) becomes a problem in the ``FlowConfigError``.
        """


class AdminStep(Configurable):
    """Base of every step; subclass one of the three kinds below.

    A step is called again, after a growing wait, when it raises
    :class:`RetryableError` or one of the exception types in ``retry_on``;
    ``retry`` caps the attempts and the waits. ``time_limit`` is the seconds
    the step should take: past it the run reports the step overdue, and the
    step keeps running, as a thread cannot be stopped. A flow config may set
    both per step, as ``<step>-retry`` and ``<step>-time_limit``.
    """

    kind: ClassVar[StepKind]
    method_name: ClassVar[str]
    retry_on: ClassVar[tuple[type[Exception], ...]] = ()
    """Exception types worth another attempt, besides RetryableError."""
    retry: ClassVar[RetryPolicy] = RetryPolicy()
    """How many attempts at most, and how long to wait between them."""
    time_limit: ClassVar[float | None] = None
    """Seconds the step should take; None for no limit."""


class AdminRecordStep(AdminStep, Generic[T]):
    """Add or drop records; record steps run one after another in insertion order."""

    kind = StepKind.RECORD
    method_name = "new_records"

    def new_records(
        self,
        curr_records: list[T],
        logger: Logger,
        set_metadata: SetMetadata,
        debug: bool = False,
    ) -> list[T]:
        """Return the records after this step's additions and removals."""
        raise NotImplementedError


class AdminUpdateStep(AdminStep, Generic[T]):
    """Work out new state in the records; must change nothing outside the flow.

    A retried update step is called again with the records as its failed
    attempt left them, while other update steps may be changing theirs: it
    should own its own fields of each record and work them out again from
    their inputs on every attempt, never build on what an attempt left.
    """

    kind = StepKind.UPDATE
    method_name = "update_records"

    def update_records(
        self,
        records: LockedRecords[T],
        logger: Logger,
        get_metadata: GetMetadata,
        set_metadata: SetMetadata,
        debug: bool = False,
    ) -> None:
        """Change records in place, holding each record's lock while touching it."""
        raise NotImplementedError


class AdminPropagateStep(AdminStep, Generic[T]):
    """Make the outside world match the records; in debug mode, only say what it would do.

    Declare retries only for a step that is idempotent: one that can repeat
    what a failed attempt already did outside (an invite sent, an email
    queued) without doing it twice, e.g. by checking the outside first or by
    writing down each change in its record as soon as it is made.
    """

    kind = StepKind.PROPAGATE
    method_name = "propagate_records"

    def propagate_records(
        self,
        records: LockedRecords[T],
        logger: Logger,
        get_metadata: GetMetadata,
        debug: bool = False,
    ) -> None:
        """Make outside changes, writing down in the records what was done."""
        raise NotImplementedError


# courseflow's later names for the same classes.
FlowRecordStep = AdminRecordStep
FlowUpdateStep = AdminUpdateStep
FlowPropagateStep = AdminPropagateStep

STEP_BASES: dict[StepKind, type[AdminStep]] = {
    StepKind.RECORD: AdminRecordStep,
    StepKind.UPDATE: AdminUpdateStep,
    StepKind.PROPAGATE: AdminPropagateStep,
}

CALL_ARGUMENTS = frozenset({"logger", "get_metadata", "set_metadata", "debug"})


@dataclass(frozen=True)
class CallPlan:
    """Which keyword arguments one step method accepts, found once."""

    method: str
    arguments: tuple[str, ...]

    def call(self, target: object, first: Any, available: dict[str, Any]) -> Any:
        return getattr(target, self.method)(
            first, **{name: available[name] for name in self.arguments}
        )


def plan_call(
    owner: str, cls: type, method: str, base: type
) -> tuple[CallPlan | None, list[ConfigProblem]]:
    """Read which of the known arguments ``cls.method`` takes, or say why it cannot be called."""
    function = getattr(cls, method, None)
    if function is None or function is getattr(base, method, None):
        return None, [ConfigProblem(owner, f"{cls.__name__} does not define {method}()")]
    try:
        parameters = list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return None, [ConfigProblem(owner, f"cannot read the signature of {cls.__name__}.{method}")]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or parameters[0].kind not in positional:
        return None, [ConfigProblem(owner, f"{cls.__name__}.{method} must take the records first")]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return CallPlan(method, tuple(sorted(CALL_ARGUMENTS))), []
    arguments: list[str] = []
    problems: list[ConfigProblem] = []
    for parameter in parameters[1:]:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if (
            parameter.name in CALL_ARGUMENTS
            and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY
        ):
            arguments.append(parameter.name)
        elif parameter.default is inspect.Parameter.empty:
            problems.append(
                ConfigProblem(
                    owner,
                    f"{cls.__name__}.{method} takes an unknown argument '{parameter.name}' "
                    f"(it may take: records, {', '.join(sorted(CALL_ARGUMENTS))})",
                )
            )
    return (None if problems else CallPlan(method, tuple(arguments))), problems


def retry_problems(owner: str, cls: type) -> list[ConfigProblem]:
    """Return what is wrong with a step class's ``retry_on``, ``retry`` and ``time_limit``."""
    problems = []
    retry_on = getattr(cls, "retry_on", ())
    if not isinstance(retry_on, tuple | list) or not all(
        inspect.isclass(kind) and issubclass(kind, Exception) for kind in retry_on
    ):
        problems.append(
            ConfigProblem(
                owner,
                f"{cls.__name__}.retry_on must be a tuple of exception classes, got {retry_on!r}",
            )
        )
    retry = getattr(cls, "retry", None)
    if not isinstance(retry, RetryPolicy):
        problems.append(
            ConfigProblem(owner, f"{cls.__name__}.retry must be a RetryPolicy, got {retry!r}")
        )
    time_limit = getattr(cls, "time_limit", None)
    if time_limit is not None and (limit_problem(time_limit) is not None or time_limit == 0):
        problems.append(
            ConfigProblem(
                owner,
                f"{cls.__name__}.time_limit must be None or a number of seconds above 0, "
                f"got {time_limit!r}",
            )
        )
    return problems
