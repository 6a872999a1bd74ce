"""MLoop Python client: `MLoopClient` for the gateway's REST API, and the `mloop` command line."""

from mloop_client.client import MLoopClient
from mloop_client.errors import GatewayUnreachable, MLoopError

__all__ = ["GatewayUnreachable", "MLoopClient", "MLoopError"]
