"""Broken and hostile YAML: every way in (runflow, the admin, a Flow row) gives a clear error.

Object-building tags are refused without running, alias bombs and deep
nesting are refused before they are built, and files that are too large,
not UTF-8 or not files at all are named with what was expected.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from adminflow import AdminFlow, FlowConfigError
from adminflow.engine.documents import (
    MAX_CHARS,
    MAX_DEPTH,
    DocumentFileError,
    load_json,
    load_yaml,
    read_text_file,
)
from adminflow.engine.yaml_errors import yaml_problem
from adminflow.models import Flow, FlowRun
from adminflow.runs.config import build_flow
from tests.engine.helpers import make_storer, update_step
from tests.run_helpers import runflow

pytestmark = pytest.mark.timeout(60)


def python_tags(marker: Path) -> list[str]:
    """Return documents whose tags would touch ``marker`` if they were ever built."""
    command = f"touch {marker}"
    return [
        f'!!python/object/apply:os.system ["{command}"]',
        f'greet: !!python/object/apply:subprocess.call [["touch", "{marker}"]]',
        f'greet: !!python/object/new:os.system ["{command}"]',
        "greet: !!python/name:os.system",
        "greet: !!python/module:os",
    ]


def alias_bomb(levels: int = 9) -> str:
    """Return a billion laughs: 9 ** levels strings from a few hundred bytes of YAML."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9) -> str:
    """Return the same bomb made of merge keys, which PyYAML would copy pair by pair."""
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(9)) + "}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 9)}]}}")
    return "\n".join(lines) + "\n"


def problem_of(text: str) -> tuple[str, str]:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(text)
    return yaml_problem(caught.value)


# The loader


def test_a_tag_that_builds_a_python_object_is_refused_by_name_and_never_run(tmp_path) -> None:
    marker = tmp_path / "owned"

    for text in python_tags(marker):
        where, problem = problem_of(text)
        assert "could not determine a constructor for the tag 'tag:yaml.org,2002:python/" in (
            problem
        )
        assert problem.endswith(
            "(only plain data is read: mappings, lists, text, numbers, booleans and dates)"
        )
        assert where.startswith(" at line 1, column ")
    assert not marker.exists()


@pytest.mark.parametrize("bomb", [alias_bomb(), merge_bomb()], ids=["aliases", "merge keys"])
def test_an_alias_bomb_is_refused_before_it_is_built(bomb: str) -> None:
    tracemalloc.start()
    try:
        problem = problem_of(bomb)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert problem == (
        "",
        "the document holds more than 100,000 values (an alias counts as everything it names)",
    )
    assert peak < 5 * 2**20


def test_a_few_aliases_are_fine() -> None:
    text = "base: &base {org: cs101}\nfirst: *base\nsecond: {<<: *base, extra: 1}\n"

    assert load_yaml(text) == {
        "base": {"org": "cs101"},
        "first": {"org": "cs101"},
        "second": {"org": "cs101", "extra": 1},
    }


@pytest.mark.parametrize("text", ["&a [*a]", "&a {self: *a}", "a: &a {b: [1, *a]}"])
def test_an_alias_that_contains_itself_is_refused(text: str) -> None:
    assert problem_of(text) == ("", "an alias refers to a mapping or list that contains it")


def test_nesting_deeper_than_the_limit_is_refused_where_it_starts() -> None:
    assert problem_of("[" * 10_000) == (
        f" at line 1, column {MAX_DEPTH + 1}",
        f"the document nests deeper than {MAX_DEPTH} levels",
    )
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_aliases_cannot_nest_deeper_than_the_limit_either() -> None:
    half = MAX_DEPTH // 2 + 1
    text = f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n"

    assert problem_of(text) == ("", f"the document nests deeper than {MAX_DEPTH} levels")


def test_json_past_the_limits_is_refused_too() -> None:
    with pytest.raises(yaml.YAMLError, match="nests deeper than"):
        load_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(yaml.YAMLError, match=r"Exceeds the limit \(4300 digits\)"):
        load_json("1" * 5000)


def test_a_document_longer_than_the_limit_is_refused_unread() -> None:
    assert problem_of("#" * (MAX_CHARS + 1)) == (
        "",
        f"the document is {MAX_CHARS + 1:,} characters long; the limit is {MAX_CHARS:,}",
    )


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            "a: 1\ndue: 2024-02-30\n",
            " at line 2, column 6",
            "cannot read '2024-02-30' as timestamp: day is out of range for month",
        ),
        (
            "n: " + "7" * 5000,
            " at line 1, column 4",
            f"cannot read '{'7' * 40}...' as int: Exceeds the limit (4300 digits) for integer "
            "string conversion: value has 5000 digits",
        ),
    ],
)
def test_a_value_yaml_matches_but_python_cannot_build_is_named_with_its_place(
    text: str, where: str, problem: str
) -> None:
    assert problem_of(text) == (where, problem)


# Files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "greet: café".encode("utf-16"),
            "config file '{path}' is not UTF-8 text (it looks like UTF-16): byte 0xff at "
            "position 0 cannot be decoded; save the file as UTF-8",
        ),
        (
            "greet: café\n".encode("latin-1"),
            "config file '{path}' is not UTF-8 text: byte 0xe9 at position 10 cannot be "
            "decoded; save the file as UTF-8",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "config file '{path}' is not UTF-8 text: byte 0x89 at position 0 cannot be "
            "decoded; save the file as UTF-8",
        ),
    ],
    ids=["utf-16", "latin-1", "binary"],
)
def test_a_file_that_is_not_utf8_is_named_with_the_encoding_expected(
    tmp_path, content: bytes, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)

    with pytest.raises(DocumentFileError) as caught:
        read_text_file(path, "config file")

    assert str(caught.value) == message.format(path=path)


def test_a_utf8_byte_order_mark_is_allowed(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes("\ufeffgreet: café\n".encode())

    assert load_yaml(read_text_file(path)) == {"greet": "café"}


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(50 * 2**20)  # 50 MB, sparse: nothing is written to disk

    with pytest.raises(DocumentFileError) as caught:
        read_text_file(path, "config file")
    with pytest.raises(DocumentFileError) as endless:
        read_text_file("/dev/zero", "config file")

    assert str(caught.value) == (
        f"config file '{path}' is larger than the limit of {MAX_CHARS:,} bytes"
    )
    assert str(endless.value) == (
        f"config file '/dev/zero' is larger than the limit of {MAX_CHARS:,} bytes"
    )


def test_a_directory_is_not_a_config_file(tmp_path) -> None:
    with pytest.raises(DocumentFileError) as caught:
        read_text_file(tmp_path, "config file")

    assert str(caught.value) == f"cannot read config file '{tmp_path}': Is a directory"


# Every way in: runflow --config (running and --validate), the admin's fields, a Flow row


@pytest.fixture
def greeter(register) -> AdminFlow:
    flow = AdminFlow("greeter", "greets", make_storer([1]), "records", default_config={"greet": {}})
    flow.add_update_step(
        "greet", update_step(config_types=[("greeting", str, "what to say", "hello")])
    )
    return register(flow)


def hostile_files(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    """Return (file name, content, what the error says after the file's name)."""
    return [
        (
            "python.yaml",
            python_tags(tmp_path / "owned")[0].encode(),
            "is not valid YAML at line 1, column 1: could not determine a constructor for "
            "the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        (
            "bomb.yaml",
            alias_bomb().encode(),
            "is not valid YAML: the document holds more than 100,000 values",
        ),
        (
            "deep.json",
            b"[" * 100_000,
            f"is not valid JSON: the document nests deeper than {MAX_DEPTH} levels",
        ),
        ("date.yaml", b"greet:\n  due: 2024-02-30\n", "is not valid YAML at line 2, column 8"),
        ("latin1.yaml", "greet: café".encode("latin-1"), "is not UTF-8 text"),
        ("huge.yaml", b"#" * (MAX_CHARS + 1), "is larger than the limit of 1,000,000 bytes"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("validate", [False, True], ids=["run", "validate"])
def test_runflow_names_the_file_and_what_is_wrong_with_it_and_writes_nothing(
    greeter, tmp_path, validate: bool
) -> None:
    for name, content, problem in hostile_files(tmp_path):
        path = tmp_path / name
        path.write_bytes(content)
        args = ["greeter", "--config", str(path), *(["--validate"] if validate else [])]

        out, err, code = runflow(*args)

        assert code == 2, name
        assert out == ""
        assert f"config file '{path}' {problem}" in err, err
    assert not (tmp_path / "owned").exists()
    assert not FlowRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("what", ["directory", "missing"])
def test_runflow_refuses_a_config_that_is_no_file(greeter, tmp_path, what: str) -> None:
    path = tmp_path if what == "directory" else tmp_path / "nowhere.yaml"
    reason = "Is a directory" if what == "directory" else "No such file or directory"

    _out, err, code = runflow("greeter", "--config", str(path), "--validate")

    assert code == 2
    assert err == f"CommandError: cannot read config file '{path}': {reason}\n"


def admin_texts(tmp_path: Path) -> list[tuple[str, str]]:
    """Return (YAML typed into a form, the start of the error it gets)."""
    return [
        (python_tags(tmp_path / "owned")[0], "Not valid YAML at line 1, column 1: could not"),
        (alias_bomb(), "Not valid YAML: the document holds more than 100,000 values"),
        (merge_bomb(), "Not valid YAML: the document holds more than 100,000 values"),
        ("&a [*a]", "Not valid YAML: an alias refers to a mapping or list that contains it"),
        ("[" * 1000, f"Not valid YAML at line 1, column {MAX_DEPTH + 1}: the document nests"),
        (
            "add:\n  numbers: [" + "9" * 5000 + "]",
            "Not valid YAML at line 2, column 13: cannot read",
        ),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["config", "spec"])
def test_the_admin_shows_what_is_wrong_in_a_yaml_field_and_saves_nothing(
    admin_client: Client, tmp_path, field: str
) -> None:
    row = Flow.objects.create(name="data", spec={"storer": {"type": "Numbers"}}, config={})
    url = reverse("admin:adminflow_flow_change", args=[row.pk])

    for text, error in admin_texts(tmp_path):
        data = {"name": "data", "description": "", "config": "", "spec": "storer: {type: Numbers}"}
        response = admin_client.post(url, {**data, field: text})

        assert response.status_code == 200
        errors = response.context["adminform"].form.errors[field]
        assert errors[0].startswith(error), errors
    row.refresh_from_db()
    assert (row.spec, row.config) == ({"storer": {"type": "Numbers"}}, {})
    assert not (tmp_path / "owned").exists()


@pytest.mark.django_db
def test_a_flow_row_holding_hostile_spec_text_is_refused_as_a_broken_spec(tmp_path) -> None:
    for text, _error in admin_texts(tmp_path):
        row = Flow(name="text-spec", spec=text)

        with pytest.raises(FlowConfigError) as caught:
            build_flow(row)

        assert str(caught.value).startswith("flow '<spec>': the spec is not valid YAML or JSON"), (
            caught.value
        )
    assert not (tmp_path / "owned").exists()
