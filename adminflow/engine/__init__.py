"""The flow engine: pure Python, no Django anywhere below this package."""

from .config import Configs, Secret, StepMode, ValidConfigTypes
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
from .flow import AdminFlow, ConfiguredFlow
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
    "ExistingFile",
    "FlowConfigError",
    "FlowObserver",
    "FlowPropagateStep",
    "FlowRecordStep",
    "FlowStep",
    "FlowUpdateStep",
    "LoggingObserver",
    "MetadataConflictError",
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
    "run_flow",
]
