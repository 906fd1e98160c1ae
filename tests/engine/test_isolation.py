"""The public API imports cleanly, and the engine never touches Django."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import adminflow
import adminflow.engine

ENGINE_DIR = Path(adminflow.engine.__file__).parent


def test_public_names_are_importable_from_the_package():
    from adminflow import (  # noqa: F401
        AdminFlow,
        AdminflowError,
        AdminPropagateStep,
        AdminRecordStep,
        AdminUpdateStep,
        FlowConfigError,
        RecordStorer,
        StepMode,
        ThreadedExecutor,
    )

    engine_names = set(adminflow.engine.__all__)
    reexported = [name for name in adminflow.__all__ if name in engine_names]
    assert {"AdminFlow", "RecordStorer", "StepMode", "ThreadedExecutor"} <= set(reexported)
    for name in reexported:
        assert getattr(adminflow, name) is getattr(adminflow.engine, name)


def test_every_deliberate_error_derives_from_adminflow_error():
    assert issubclass(adminflow.FlowConfigError, adminflow.AdminflowError)
    assert issubclass(adminflow.MetadataConflictError, adminflow.AdminflowError)
    assert issubclass(adminflow.StepContractError, adminflow.AdminflowError)
    assert issubclass(adminflow.AdminflowError, Exception)


def test_step_modes_are_the_three_config_words():
    assert {str(mode) for mode in adminflow.StepMode} == {"include", "exclude", "debug"}
    assert adminflow.StepMode("exclude") is adminflow.StepMode.EXCLUDE


def test_importing_engine_and_package_in_a_fresh_interpreter_loads_no_django():
    code = (
        "import sys\n"
        "import adminflow.engine\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "assert not loaded, f'importing adminflow.engine loaded {loaded}'\n"
        "import adminflow\n"
        "from adminflow import AdminFlow, ThreadedExecutor\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "assert 'django' not in sys.modules, f'importing adminflow loaded {loaded}'\n"
        "print('clean')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ENGINE_DIR.parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"


def test_importing_the_package_loads_no_models_and_no_database_layer():
    code = (
        "import sys\n"
        "import adminflow\n"
        "bad = [m for m in sys.modules if m == 'adminflow.models' or m.startswith('django.db')\n"
        "       or m.startswith('django.apps') or m.startswith('django.conf')]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ENGINE_DIR.parent.parent,
    )
    assert done.returncode == 0, done.stderr


def test_no_engine_module_imports_django_even_lazily():
    """A function-level ``import django`` would escape the fresh-interpreter test."""
    offenders = []
    for path in sorted(ENGINE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "django"]
    assert offenders == []


def runtime_imports(path: Path) -> tuple[set[str], list[str]]:
    """Return the engine modules ``path`` imports at its top, and any import made elsewhere.

    Imports under ``if TYPE_CHECKING:`` are for annotations only and count as neither.
    """
    tree = ast.parse(path.read_text(), str(path))
    top: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            top.add(node.module or "")
    nested = [
        f"{path.stem}:{node.lineno}"
        for statement in tree.body
        if not isinstance(statement, ast.If | ast.ImportFrom | ast.Import)
        for node in ast.walk(statement)
        if isinstance(node, ast.ImportFrom | ast.Import)
    ]
    return top, nested


def test_engine_modules_import_each_other_at_their_top_and_never_in_a_loop():
    """An import inside a function hides a loop between modules; one is refused here."""
    graph, nested = {}, []
    for path in sorted(ENGINE_DIR.glob("*.py")):
        graph[path.stem], hidden = runtime_imports(path)
        nested += hidden

    assert nested == []
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a loop


def test_no_engine_class_shares_its_name_with_a_model_of_the_app():
    """One name per concept: ``FlowRun`` is the model, never also an engine class."""
    from django.apps import apps

    models = {model.__name__ for model in apps.get_app_config("adminflow").get_models()}
    classes = {
        f"{path.stem}.{node.name}"
        for path in sorted(ENGINE_DIR.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ClassDef) and node.name in models
    }
    assert "FlowRun" in models
    assert classes == set()
