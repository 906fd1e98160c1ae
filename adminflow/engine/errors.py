"""Exceptions raised by the flow engine.

Every error adminflow raises on purpose derives from :class:`AdminflowError`, so a
caller can catch the family in one place; messages name the flow, step and key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


class AdminflowError(Exception):
    """Base class of every error adminflow raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration, located by its dotted path."""

    path: str
    message: str
    courseflow: str = field(default="", compare=False)
    """What courseflow accepted here that adminflow refuses, for those moving from it.

    Kept out of ``str()``, which the admin shows; the errors' messages add it.
    """

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def explained(self) -> str:
        """Return the problem as ``str()`` does, followed by what courseflow accepted, if anything."""
        return f"{self} ({self.courseflow})" if self.courseflow else str(self)


class FlowConfigError(AdminflowError, ValueError):
    """Raise when a flow, its steps or its configuration are not usable.

    Carries every problem found, so that one attempt shows the user everything
    to fix rather than one problem per run.
    """

    def __init__(self, flow: str, problems: Iterable[ConfigProblem | str]) -> None:
        self.flow = flow
        self.problems = [
            p if isinstance(p, ConfigProblem) else ConfigProblem("", p) for p in problems
        ]
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"flow '{self.flow}': {self.problems[0].explained()}"
        lines = [f"flow '{self.flow}': {len(self.problems)} configuration problems:"]
        lines += [f"  - {problem.explained()}" for problem in self.problems]
        return "\n".join(lines)


class ConfigsError(FlowConfigError):
    """Raise when a step or storer built straight from a config mapping refuses it.

    The same problems a flow config gets, named after the class rather than a flow.
    """

    def __init__(self, owner: str, problems: Iterable[ConfigProblem | str]) -> None:
        self.owner = owner
        super().__init__(owner, problems)

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"{self.owner} config: {self.problems[0].explained()}"
        lines = [f"{self.owner} config: {len(self.problems)} problems:"]
        lines += [f"  - {problem.explained()}" for problem in self.problems]
        return "\n".join(lines)


class MetadataConflictError(AdminflowError):
    """Raise when a step sets a metadata name that another step already set."""

    def __init__(self, name: str, first_step: str, second_step: str) -> None:
        self.name = name
        self.first_step = first_step
        self.second_step = second_step
        super().__init__(
            f"metadata '{name}' was already set by step '{first_step}'; "
            f"step '{second_step}' may not set it again"
        )


class StepContractError(AdminflowError):
    """Raise when a step breaks the calling contract (e.g. returns no list)."""


class RetryableError(Exception):
    """Raise from a step to say its failure is worth another attempt.

    A step is called again for this exception (or a subclass) whatever its
    ``retry_on`` says, up to its retry policy's ``max_attempts``. It is not an
    :class:`AdminflowError`: step code raises it, not adminflow.
    """
