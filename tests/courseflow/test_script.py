"""``run_flow(flow)``: a courseflow flow script's command line, run as a user runs it.

Each test starts ``python tag_flow.py ...`` in a process of its own: pure
engine, no Django settings, no database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("tag_flow.py")


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the example flow script with ``args``; return what it printed and its exit code."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config_file(course, tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(course))
    return path


def test_r_runs_the_flow_printing_its_progress_and_exits_0(config_file, course, tmp_path):
    done = script("-r", str(config_file), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[FLOW] tag-labs: started (1 record, 1 update, 1 propagate steps)"
    assert "[STEP] push-tags (propagate): started" in lines
    assert lines[-1].startswith("[FLOW] tag-labs: succeeded in ")
    assert "[push-tags] pushed abc-ab1" not in lines  # a step's own lines wait for verbose()
    assert len(json.loads(Path(course["tags"]["file_path"]).read_text())) == 2


def test_a_failed_run_exits_1_and_stores_nothing_it_should_not(config_file, course, tmp_path):
    config_file.write_text(yaml.safe_dump({**course, "push-tags": {"fail": True}}))

    done = script("-r", str(config_file), cwd=tmp_path)

    assert done.returncode == 1
    assert "[STEP] push-tags: failed" in done.stdout
    assert "RuntimeError: the tag server refused the push" in done.stdout


def test_s_prints_nothing_and_l_appends_every_line_to_the_log_file(config_file, tmp_path):
    log = tmp_path / "run.log"

    done = script("-r", str(config_file), "-s", "-l", str(log), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    text = log.read_text()
    assert "[FLOW] tag-labs: started" in text
    assert "[push-tags] pushed abc-ab1" in text


def test_d_writes_a_config_template_that_v_then_judges(tmp_path):
    template = tmp_path / "template.yaml"

    assert script("-d", str(template), cwd=tmp_path).returncode == 0
    assert "get-tags:" in template.read_text()

    refused = script("-v", str(template), cwd=tmp_path)
    assert refused.returncode == 2
    assert "get-tags.lab: still the template's placeholder: fill in (str)" in refused.stderr
    assert f"(config read from {template})" in refused.stderr


def test_v_accepts_a_valid_config_without_running_it(config_file, course, tmp_path):
    done = script("-v", str(config_file), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "a valid config for flow 'tag-labs'" in done.stdout
    assert not Path(course["tags"]["file_path"]).exists()


def test_a_config_courseflow_accepted_is_refused_naming_key_and_what_courseflow_did(
    config_file, course, tmp_path
):
    config_file.write_text(yaml.safe_dump({**course, "push-tags": {"fail": False, "retries": 1}}))

    done = script("-r", str(config_file), cwd=tmp_path)

    assert done.returncode == 2
    assert "push-tags.retries: unknown key (expected: fail) (courseflow ignored" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "one of the arguments -r/--run -d/--describe -v/--validate is required"),
        (("-r", "missing.yaml"), "cannot read config file 'missing.yaml'"),
    ],
)
def test_bad_usage_or_an_unreadable_config_exits_2(args, expected, tmp_path):
    done = script(*args, cwd=tmp_path)

    assert done.returncode == 2
    assert expected in done.stderr


def test_the_script_runs_the_pure_engine_without_loading_django(config_file, tmp_path):
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['tag_flow.py', '-s', '-r', {str(config_file)!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "print(code, loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout == "0 []\n", done.stderr
