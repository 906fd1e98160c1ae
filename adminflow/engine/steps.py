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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .config import Configs, check_section, describe_fields, parse_config_types
from .errors import ConfigProblem, ConfigsError
from .intents import Intent
from .limits import limit_problem
from .retries import RetryPolicy

T = TypeVar("T")


class Logger(Protocol):
    """The logger a step or storer is handed: ``logger(message)`` logs at INFO."""

    def __call__(self, message: object, level: int = ...) -> None: ...
    def debug(self, message: object) -> None: ...
    def info(self, message: object) -> None: ...
    def warning(self, message: object) -> None: ...
    def error(self, message: object) -> None: ...


GetMetadata = Callable[[str], Any]
SetMetadata = Callable[[str, Any], None]
LockedRecords = list[tuple[T, threading.Lock]]


class StepKind(StrEnum):
    """The three kinds of step, in the order their phases run."""

    RECORD = "record"
    UPDATE = "update"
    PROPAGATE = "propagate"


def refusal_message(exc: BaseException | None) -> str:
    """Return what a step's ``validate()`` said against its config, in the user's terms.

    The exception's own text is the message (it was written for the user:
    "max_drop_share must be between 0 and 1"); a refusal that says nothing
    (``return False``, a bare exception) gets a sentence that still says whose check it was.
    """
    text = str(exc).strip() if exc is not None else ""
    if text:
        return text
    kind = f" ({type(exc).__name__})" if exc is not None else ""
    return f"these values were refused by the section's own checks{kind}"


class Configurable:
    """What steps and storers share: a description, a config schema, a check.

    A flow builds each one from its checked :class:`Configs`. Code may also
    build one straight from a plain mapping, as courseflow code does
    (``Storer({"file_path": p})``, or a step making a storer of its own):
    the mapping is then checked against ``config_types`` and ``validate()``
    runs, so it is refused with the same messages a flow config would get.
    """

    description: ClassVar[str] = ""
    config_types: ClassVar[Sequence[tuple[Any, ...]]] = ()

    def __init__(self, configs: Configs | Mapping[str, Any]) -> None:
        if isinstance(configs, Configs):  # checked by the flow, which runs validate() itself
            self.configs = configs
            return
        owner = type(self).__name__
        fields, problems = parse_config_types(owner, self.config_types)
        values, section_problems = check_section(owner, fields, configs)
        if problems or section_problems:
            raise ConfigsError(owner, problems + section_problems)
        self.configs = Configs(values)
        try:
            verdict = self.validate()  # type: ignore[func-returns-value]  # courseflow returns False
        except Exception as exc:
            raise ConfigsError(owner, [refusal_message(exc)]) from exc
        if verdict is False:
            raise ConfigsError(owner, [refusal_message(None)])

    @classmethod
    def describe_config(cls) -> dict[str, str]:
        """Return the config this class expects: ``_description`` and "(type) description" per key.

        Raise ConfigsError if its ``config_types`` cannot be read.
        """
        fields, problems = parse_config_types(cls.__name__, cls.config_types)
        if problems:
            raise ConfigsError(cls.__name__, problems)
        return describe_fields(cls.description, fields)

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

    A step that defines :meth:`plan_records` and :meth:`carry_out` instead of
    ``propagate_records`` opts in to plans: its runs can be reviewed and
    approved before anything is done (see :mod:`adminflow.engine.intents`).
    Such a step may also define ``carry_out_batch(intents, logger,
    get_metadata)`` and a ``batch_size``, to carry out many intents in one
    request while each is still planned, reviewed and recorded on its own.
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

    def plan_records(
        self, records: LockedRecords[T], logger: Logger, get_metadata: GetMetadata
    ) -> Iterable[Intent]:
        """Return (or yield) the intents this step means to carry out; change nothing."""
        raise NotImplementedError

    def carry_out(
        self, intent: Intent, logger: Logger, get_metadata: GetMetadata
    ) -> Mapping[str, Any] | None:
        """Carry out one intent from its params; return fields to write on its record, if any.

        Raise to mark the intent failed; the other intents are still carried out.
        """
        raise NotImplementedError


def plans_intents(cls: type) -> bool:
    """Return whether a step class opted in to plans: it defines plan_records and carry_out."""
    return all(
        getattr(cls, name, None) not in (None, getattr(AdminPropagateStep, name))
        for name in ("plan_records", "carry_out")
    )


# courseflow's later names for the same classes.
FlowStep = AdminStep
FlowRecordStep = AdminRecordStep
FlowUpdateStep = AdminUpdateStep
FlowPropagateStep = AdminPropagateStep

STEP_BASES: dict[StepKind, type[AdminStep]] = {
    StepKind.RECORD: AdminRecordStep,
    StepKind.UPDATE: AdminUpdateStep,
    StepKind.PROPAGATE: AdminPropagateStep,
}

CALL_ARGUMENTS = frozenset({"logger", "get_metadata", "set_metadata", "debug"})

# What follows the records in each kind's method, in the seed's order and then in
# courseflow's later one (a record step that also takes get_metadata, a propagate
# step that also takes set_metadata). courseflow calls by position, so a step whose
# parameters have other names is matched to these by position.
LATER_ORDER = ("logger", "get_metadata", "set_metadata", "debug")
POSITIONAL_ORDERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "new_records": (("logger", "set_metadata", "debug"), LATER_ORDER),
    "update_records": (LATER_ORDER,),
    "propagate_records": (("logger", "get_metadata", "debug"), LATER_ORDER),
}
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class CallPlan:
    """Which arguments one step method takes after the records, and how: found once."""

    method: str
    positional: tuple[str, ...]
    """Arguments passed by position, in this order."""
    keywords: tuple[str, ...]
    """Arguments passed by name."""

    def call(self, target: object, first: Any, available: dict[str, Any]) -> Any:
        return getattr(target, self.method)(
            first,
            *[available[name] for name in self.positional],
            **{name: available[name] for name in self.keywords},
        )


def plan_call(
    owner: str, cls: type, method: str, base: type
) -> tuple[CallPlan | None, list[ConfigProblem]]:
    """Read which of the known arguments ``cls.method`` takes, or say why it cannot be called.

    Parameters named as the seed names them are passed by name, in any order,
    and optional ones with other names keep their defaults. When a required
    one has another name (``update_records(self, recs, log, get_md, set_md)``),
    every positional parameter is matched by its position instead, in the
    seed's order or, where that does not fit, in courseflow's later one.
    """
    function = getattr(cls, method, None)
    if function is None or function is getattr(base, method, None):
        return None, [ConfigProblem(owner, f"{cls.__name__} does not define {method}()")]
    try:
        parameters = list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return None, [ConfigProblem(owner, f"cannot read the signature of {cls.__name__}.{method}")]
    if not parameters or parameters[0].kind not in _POSITIONAL:
        return None, [ConfigProblem(owner, f"{cls.__name__}.{method} must take the records first")]
    rest = [p for p in parameters[1:] if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
    rest = [p for p in rest if p.kind is not inspect.Parameter.VAR_KEYWORD]
    positional = [p for p in rest if p.kind in _POSITIONAL]
    # Today's rule where it suffices: known names by name, unknown ones left to their defaults.
    by_name = all(
        (p.name in CALL_ARGUMENTS and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        or p.default is not inspect.Parameter.empty
        for p in positional
    )
    order: tuple[str, ...] = ()
    if not by_name:
        found = _positional_order(positional, POSITIONAL_ORDERS.get(method, (LATER_ORDER,)))
        if found is None:
            return None, [_unmatched(owner, cls, method, positional)]
        order = found
    keyword_parameters = rest[len(order) :]
    problems = [
        ConfigProblem(
            owner,
            f"{cls.__name__}.{method} takes an unknown argument '{p.name}' "
            f"(it may take: records, {', '.join(sorted(CALL_ARGUMENTS))})",
        )
        for p in keyword_parameters
        if p.name not in CALL_ARGUMENTS
        and p.default is inspect.Parameter.empty
        and p.kind is not inspect.Parameter.POSITIONAL_ONLY
    ]
    if problems:
        return None, problems
    if takes_any:
        keywords = tuple(sorted(CALL_ARGUMENTS - set(order)))
    else:
        keywords = tuple(p.name for p in keyword_parameters if p.name in CALL_ARGUMENTS)
    return CallPlan(method, order, keywords), []


def _positional_order(
    parameters: Sequence[inspect.Parameter], orders: Sequence[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """Return the arguments to pass by position to ``parameters``, or None if no order fits.

    An order fits when it has an argument for every parameter without a
    default and each parameter named like an argument sits where the order
    puts that argument. One with as many arguments as there are parameters
    is preferred: ``(recs, log, get_md, set_md, debug=False)`` is the later order.
    """
    for order in sorted(orders, key=lambda order: len(order) != len(parameters)):
        needed = [p for p in parameters if p.default is inspect.Parameter.empty]
        if len(needed) > len(order) or any(
            p.name in CALL_ARGUMENTS and p.name not in order[index : index + 1]
            for index, p in enumerate(parameters[: len(order)])
        ):
            continue
        return order[: min(len(parameters), len(order))]
    return None


def _unmatched(
    owner: str, cls: type, method: str, parameters: Sequence[inspect.Parameter]
) -> ConfigProblem:
    orders = " or ".join(
        f"(records, {', '.join(order)})" for order in POSITIONAL_ORDERS.get(method, ())
    )
    names = ", ".join(p.name for p in parameters)
    return ConfigProblem(
        owner,
        f"{cls.__name__}.{method} takes ({names}) after the records, which matches the "
        f"arguments neither by name nor by position (it may take {orders})",
    )


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
