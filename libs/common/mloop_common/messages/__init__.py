"""Every cross-service message, by type name (the catalogue)."""

from mloop_common.messages import commands, events
from mloop_common.messages.envelope import Message

CATALOGUE: dict[str, type[Message]] = {
    cls.model_fields["type"].default: cls
    for module in (commands, events)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Message) and cls is not Message
}

__all__ = ["CATALOGUE", "Message", "commands", "events"]
