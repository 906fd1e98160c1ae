"""adminflow: course-administration flows as a reusable Django app.

The names here are the engine's public API. Importing this package imports
no Django models, so step modules can import it freely.
"""

from importlib.metadata import PackageNotFoundError, version

from .engine import (
    AdminFlow,
    AdminflowError,
    AdminPropagateStep,
    AdminRecordStep,
    AdminStep,
    AdminUpdateStep,
    ConfigsError,
    ConfiguredFlow,
    ConsoleObserver,
    DropGuard,
    ExistingFile,
    FlowConfigError,
    FlowObserver,
    FlowPropagateStep,
    FlowRecordStep,
    FlowStep,
    FlowUpdateStep,
    Intent,
    LoggingObserver,
    MetadataConflictError,
    RecordStorer,
    RetryableError,
    RetryPolicy,
    RunResult,
    RunStatus,
    Secret,
    StepContractError,
    StepKind,
    StepMode,
    StepResult,
    StepStatus,
    ThreadedExecutor,
    ValidConfigTypes,
    run_flow,
)
from .registry import AlreadyRegistered, NotRegistered, register_flow, register_step

try:
    __version__ = version("adminflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AdminFlow",
    "AdminPropagateStep",
    "AdminRecordStep",
    "AdminStep",
    "AdminUpdateStep",
    "AdminflowError",
    "AlreadyRegistered",
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
    "NotRegistered",
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
    "register_flow",
    "register_step",
    "run_flow",
]
