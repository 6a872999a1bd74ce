"""What a refused workflow reports: one problem per fault, with where it is in the YAML."""

from __future__ import annotations

from typing import Any


class WorkflowError(ValueError):
    """A workflow that cannot be used. `problems` holds one `{"path", "line", "column",
    "message"}` per fault: `path` like `steps[1].needs[0]`, `line`/`column` 1-based in the YAML
    text (the start of the offending node, or inside an expression when the fault is there)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(
            "; ".join(
                f"{p['path'] or 'workflow'} (line {p['line']}, column {p['column']}): "
                f"{p['message']}"
                for p in problems
            )
        )
        self.problems = problems
