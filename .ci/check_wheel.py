"""Build adminflow's wheel and sdist, check them, and prove the wheel works on its own.

Run by .ci/run with the project's virtualenv (which has the release extra):
the distributions must pass ``twine check``; the wheel must hold the
``adminflow`` package only (no example site, no tests, no benches) with its
templates, static files, migrations and ``py.typed``; and installed into a
clean virtualenv, with nothing from this checkout on the path, a minimal
site that installs adminflow must pass ``manage.py check``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = [
    "adminflow/__init__.py",
    "adminflow/py.typed",
    "adminflow/migrations/0001_initial.py",
    "adminflow/templates/",
    "adminflow/static/",
]
SETTINGS = """
import django

SECRET_KEY = "wheel-check"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "adminflow",
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
TASKS = {"default": {"BACKEND": "adminflow_site.tasks.QueueBackend"}}
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
ROOT_URLCONF = "adminflow_site.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
"""
# A queue that keeps what it is sent: the site needs some backend that does not run
# tasks inside the request (adminflow.W002), and the check must need no server.
TASKS_MODULE = """
from adminflow.compat import TASKS_MODULE
from importlib import import_module

QueueBackend = import_module(f"{TASKS_MODULE}.backends.dummy").DummyBackend
"""
URLS = """
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    print("$", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def check_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    version = wheel.name.split("-")[1]
    strays = sorted(
        {n.split("/")[0] for n in names} - {"adminflow", f"adminflow-{version}.dist-info"}
    )
    if strays:
        sys.exit(f"{wheel.name} holds more than adminflow: {strays}")
    missing = [r for r in REQUIRED if not any(n.startswith(r) for n in names)]
    if missing:
        sys.exit(f"{wheel.name} lacks {missing}")
    if any("__pycache__" in n for n in names):
        sys.exit(f"{wheel.name} holds compiled files")
    print(f"{wheel.name}: adminflow only, {len(names)} files, with {', '.join(REQUIRED)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dist = work / "dist"
        run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
        [wheel] = dist.glob("adminflow-*.whl")
        [sdist] = dist.glob("adminflow-*.tar.gz")
        run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
        check_contents(wheel)
        venv = work / "venv"
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "pip", "install", "-q", wheel)
        site = work / "site"
        (site / "adminflow_site").mkdir(parents=True)
        (site / "adminflow_site" / "__init__.py").write_text("")
        (site / "adminflow_site" / "settings.py").write_text(SETTINGS)
        (site / "adminflow_site" / "tasks.py").write_text(TASKS_MODULE)
        (site / "adminflow_site" / "urls.py").write_text(URLS)
        where = run(
            venv / "bin" / "python", "-c", "import adminflow; print(adminflow.__file__)", cwd=site
        )
        if not where.startswith(str(venv)):
            sys.exit(f"adminflow was imported from {where.strip()}, not the wheel")
        out = run(
            venv / "bin" / "django-admin",
            "check",
            "--fail-level",
            "WARNING",
            "--settings",
            "adminflow_site.settings",
            "--pythonpath",
            ".",
            cwd=site,
        )
        print(out.strip())


if __name__ == "__main__":
    main()
