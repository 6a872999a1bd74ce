"""Gateway use cases: one module per resource; each change is audited in its own transaction."""
