"""Read YAML and JSON that anyone may have written: safely, and within limits.

Configs and specs come from files, the admin's text areas and ``Flow`` rows,
so they are read as hostile. Only plain data is built (``SafeLoader``: a tag
such as ``!!python/object/apply`` is refused, never run). A few hundred bytes
of YAML can name one list a billion times through aliases; PyYAML shares the
list, but checking, storing or showing the data would visit every copy. So a
document is refused, before any of it is built, when it is longer than
:data:`MAX_CHARS`, holds more than :data:`MAX_VALUES` values with each alias
counted in full, nests deeper than :data:`MAX_DEPTH`, or contains itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from .errors import AdminflowError

MAX_CHARS = 1_000_000
"""The longest document read, in characters (or bytes, for a file)."""
MAX_VALUES = 100_000
"""The most values (keys, items, scalars) a document may hold, aliases expanded."""
MAX_DEPTH = 50
"""The deepest a document may nest mappings and lists."""


class DocumentLimitError(yaml.YAMLError):
    """Raise for a document past the limits; ``problem`` says which, as a parser's error does."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class DocumentFileError(AdminflowError):
    """Raise when a file cannot be read as text: missing, too large, not UTF-8, not a file."""


def read_text_file(path: str | Path, label: str = "file") -> str:
    """Return the text of the file at ``path``, read as UTF-8 (a byte order mark is allowed).

    Raise DocumentFileError, naming the ``label`` and path, for a file that cannot be opened,
    is longer than :data:`MAX_CHARS` bytes (never reading more than that, so
    ``/dev/zero`` is refused too) or is not UTF-8.
    """
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CHARS + 1)
    except OSError as exc:
        raise DocumentFileError(f"cannot read {label} '{path}': {exc.strerror or exc}") from None
    if len(data) > MAX_CHARS:
        raise DocumentFileError(f"{label} '{path}' is larger than the limit of {MAX_CHARS:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DocumentFileError(
            f"{label} '{path}' is not UTF-8 text{hint}: byte {data[exc.start]:#04x} at position "
            f"{exc.start} cannot be decoded; save the file as UTF-8"
        ) from None


def load_yaml(text: str | bytes) -> Any:
    """Return the plain data in a YAML document; raise yaml.YAMLError saying where and why."""
    _check_length(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, _node_children)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_json(text: str | bytes) -> Any:
    """Return the data in a JSON document.

    Raise json.JSONDecodeError (a ValueError) for broken JSON, and
    DocumentLimitError for a document past the limits.
    """
    _check_length(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # a number past Python's 4,300 digits (or bytes not UTF-8)
        raise DocumentLimitError(str(exc).partition(";")[0]) from None
    except RecursionError:
        raise DocumentLimitError(_too_deep()) from None
    _check_size(data, _data_children)
    return data


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting while composing and naming bad scalars."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Composing recurses once per level: stop before Python's own limit does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, _too_deep(), self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)  # type: ignore[return-value]
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # int() and date() refuse some values the resolver matched (a 5,000-digit
        # number, 2024-02-30) with a bare ValueError; say which value, and where.
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            kind = node.tag.rpartition(":")[2]
            shown = str(node.value)
            shown = f"{shown[:40]}..." if len(shown) > 40 else shown
            reason = str(exc).partition(";")[0]  # not Python's advice on raising its limit
            raise ConstructorError(
                None, None, f"cannot read {shown!r} as {kind}: {reason}", node.start_mark
            ) from None


def _check_length(text: str | bytes) -> None:
    if len(text) > MAX_CHARS:
        raise DocumentLimitError(
            f"the document is {len(text):,} characters long; the limit is {MAX_CHARS:,}"
        )


def _too_deep() -> str:
    return f"the document nests deeper than {MAX_DEPTH} levels"


def _node_children(node: Any) -> Iterable[Any]:
    if isinstance(node, yaml.SequenceNode):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return ()


def _data_children(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    return ()


def _check_size(root: Any, children: Callable[[Any], Iterable[Any]]) -> None:
    """Raise DocumentLimitError if ``root``, each shared part counted in full, is too big.

    Each part is measured once (by identity) and its size and height kept,
    so a bomb of aliases costs as little to measure as it took to write.
    """
    measured: dict[int, tuple[int, int]] = {}
    open_parts: set[int] = set()

    def measure(part: Any, level: int) -> tuple[int, int]:
        key = id(part)
        if key in open_parts:
            raise DocumentLimitError("an alias refers to a mapping or list that contains it")
        if key not in measured:
            if level > MAX_DEPTH:
                raise DocumentLimitError(_too_deep())
            open_parts.add(key)
            size, height = 1, 0
            for child in children(part):
                child_size, child_height = measure(child, level + 1)
                size += child_size
                height = max(height, child_height + 1)
                if size > MAX_VALUES:
                    raise DocumentLimitError(
                        f"the document holds more than {MAX_VALUES:,} values "
                        "(an alias counts as everything it names)"
                    )
            open_parts.discard(key)
            measured[key] = (size, height)
        size, height = measured[key]
        if level + height > MAX_DEPTH:
            raise DocumentLimitError(_too_deep())
        return size, height

    measure(root, 0)
