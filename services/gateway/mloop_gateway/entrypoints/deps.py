"""Request dependencies: the caller's grant, checked against the route's policy.

Every route declares exactly one policy through `Admin`, `Editor` or `Viewer`
(`Allow("predictor")` is ready for the prediction routes)
(tests walk the app's routes and fail on a route without one). Keys are checked against the
in-memory key ring: no database round trip per request (a dashboard session is cached too).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from mloop_common.keyring import Grant
from mloop_common.problems import Problem

from mloop_gateway.context import Gateway
from mloop_gateway.domain.access import Policy, allows
from mloop_gateway.web.session import session_grant

bearer = HTTPBearer(auto_error=False)


class Allow:
    """Dependency: a valid key (else 401) whose role the policy allows (else 403).

    The key comes as a Bearer token, or through the dashboard's sign-in session cookie (see
    `mloop_gateway.web.session`), with which unsafe methods also need the CSRF header.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Grant:
        if credentials is not None:
            gateway: Gateway = request.app.state.gateway
            grant = gateway.keyring.lookup(credentials.credentials)
            if grant is None:
                raise Problem(401, "Unauthorized", "The API key is unknown or revoked.")
        else:
            grant = await session_grant(request)  # the dashboard's cookie (403 without CSRF)
            if grant is None:
                raise Problem(
                    401, "Unauthorized", "Send an API key as `Authorization: Bearer <key>`."
                )
        if not allows(self.policy, grant.role):
            raise Problem(403, "Forbidden", f"This needs a key with the {self.policy} role.")
        return grant


Admin = Annotated[Grant, Depends(Allow("admin"))]
Editor = Annotated[Grant, Depends(Allow("editor"))]
Viewer = Annotated[Grant, Depends(Allow("viewer"))]


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


Ctx = Annotated[Gateway, Depends(get_gateway)]
