"""The flow engine: pure Python, no Django anywhere below this package."""

from .config import Configs, Secret, StepMode, ValidConfigTypes
from .configured import ConfiguredFlow
from .drops import DropGuard
from .errors import (
    AdminflowError,
    ConfigProblem,
    ConfigsError,
    FlowConfigError,
    MetadataConflictError,
    RetryableError,
    StepContractError,
)
from .events import FlowObserver
from .executor import ThreadedExecutor
from .files import ExistingFile
from .flow import AdminFlow
from .intents import Intent, PlanToApply
from .observers import ConsoleObserver, LoggingObserver
from .result import RunResult, RunStatus, StepResult, StepStatus
from .retries import RetryPolicy
from .script import run_flow
from .steps import (
    AdminPropagateStep,
    AdminRecordStep,
    AdminStep,
    AdminUpdateStep,
    FlowPropagateStep,
    FlowRecordStep,
    FlowStep,
    FlowUpdateStep,
    StepKind,
    plans_intents,
)
from .storer import RecordStorer

__all__ = [
    "AdminFlow",
    "AdminPropagateStep",
    "AdminRecordStep",
    "AdminStep",
    "AdminUpdateStep",
    "AdminflowError",
    "ConfigProblem",
    "Configs",
    "ConfigsError",
    "ConfiguredFlow",
    "ConsoleObserver",
    "DropGuard",
    "ExistingFile",
    "FlowConfigError",
    "FlowObserver",
    "FlowPropagateStep",
    "FlowRecordStep",
    "FlowStep",
    "FlowUpdateStep",
    "Intent",
    "LoggingObserver",
    "MetadataConflictError",
    "PlanToApply",
    "RecordStorer",
    "RetryPolicy",
    "RetryableError",
    "RunResult",
    "RunStatus",
    "Secret",
    "StepContractError",
    "StepKind",
    "StepMode",
    "StepResult",
    "StepStatus",
    "ThreadedExecutor",
    "ValidConfigTypes",
    "plans_intents",
    "run_flow",
]
