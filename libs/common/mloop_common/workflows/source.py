"""YAML text → plain values, remembering where every value (and every mapping key) starts.

PyYAML composes the text into nodes carrying their start marks; the nodes are converted here
rather than by PyYAML's constructor so that every path keeps its position. Safe by design: only
the safe scalar types are resolved (tags like `!!python/object` are refused), anchors and aliases
are refused (they would let a short text expand without bound), and so are duplicate keys, which
YAML forbids but PyYAML lets through (the last one silently winning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from mloop_common.workflows.errors import WorkflowError

MAX_SOURCE_BYTES = 256 * 1024
MAX_NESTING = 32

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Source:
    """The values of a YAML document and the position of each, by path."""

    text: str
    data: Any = None
    nodes: dict[str, yaml.Node] = field(default_factory=dict)
    keys: dict[str, yaml.Node] = field(default_factory=dict)
    constructor: yaml.SafeLoader = field(default_factory=lambda: yaml.SafeLoader(""))

    def position(self, path: str, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the node at `path` (its key with `key=True`), else of the
        nearest enclosing node found."""
        probe = path
        while True:
            node = (self.keys if key else self.nodes).get(probe) or self.nodes.get(probe)
            if node is not None:
                return node.start_mark.line + 1, node.start_mark.column + 1
            if not probe:
                return 1, 1
            probe = _parent(probe)
            key = False

    def inside(self, path: str, offset: int | None) -> tuple[int, int]:
        """The position of character `offset` of the string at `path`, when the YAML holds it
        verbatim on one line (plain, or quoted without escapes); else the string's start."""
        line, column = self.position(path)
        node = self.nodes.get(path)
        if offset is None or not isinstance(node, yaml.ScalarNode):
            return line, column
        start, end = node.start_mark, node.end_mark
        if start.line != end.line:
            return line, column
        raw = self.text.splitlines()[start.line][start.column : end.column]
        if node.style in ("'", '"'):
            raw = raw[1:-1]
            column += 1
        if raw != node.value:  # escapes, doubled quotes, folded text: offsets would shift
            return line, column
        return line, column + offset

    def problem(self, path: str, message: str, *, key: bool = False) -> dict[str, Any]:
        line, column = self.position(path, key=key)
        return {"path": path, "line": line, "column": column, "message": message}


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def load(text: str) -> Source:
    """Parse `text`; WorkflowError with the position of a syntax error or a refused construct."""
    source = Source(text=text)
    if len(text.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        raise WorkflowError(
            [_at("", 1, 1, f"the workflow is larger than {MAX_SOURCE_BYTES} bytes")]
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (error.context, error.problem) if part)
        raise WorkflowError([_at("", line, column, f"YAML syntax error: {message}")]) from None
    except yaml.YAMLError as error:
        raise WorkflowError([_at("", 1, 1, f"YAML error: {error}")]) from None
    except RecursionError:
        raise WorkflowError([_at("", 1, 1, "the YAML is nested too deeply")]) from None
    if root is None:
        raise WorkflowError([_at("", 1, 1, "the workflow is empty: it needs `steps`")])
    source.data = _convert(source, root, "", set(), 0)
    return source


def _at(path: str, line: int, column: int, message: str) -> dict[str, Any]:
    return {"path": path, "line": line, "column": column, "message": message}


def _refuse(node: yaml.Node, path: str, message: str) -> WorkflowError:
    return WorkflowError([_at(path, node.start_mark.line + 1, node.start_mark.column + 1, message)])


def _convert(source: Source, node: yaml.Node, path: str, seen: set[int], depth: int) -> Any:
    if id(node) in seen:
        raise _refuse(node, path, "anchors and aliases (&name, *name) are not supported")
    seen.add(id(node))
    if depth > MAX_NESTING:
        raise _refuse(node, path, f"nested more than {MAX_NESTING} levels deep")
    source.nodes[path] = node
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise _refuse(node, path, f"the YAML tag {node.tag!r} is not supported")
        try:
            return source.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError) as error:
            raise _refuse(node, path, f"unreadable value: {error}") from None
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _refuse(node, path, f"the YAML tag {node.tag!r} is not supported")
        return [
            _convert(source, item, child(path, i), seen, depth + 1)
            for i, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.MappingNode)
    if node.tag != "tag:yaml.org,2002:map":
        raise _refuse(node, path, f"the YAML tag {node.tag!r} is not supported")
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            raise _refuse(key_node, path, "mapping keys must be plain names")
        key = key_node.value
        here = child(path, key)
        if key in result:
            raise _refuse(key_node, here, f"the key {key!r} is given twice")
        source.keys[here] = key_node
        result[key] = _convert(source, value_node, here, seen, depth + 1)
    return result
