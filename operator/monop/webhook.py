"""POST /hooks/git: a push notification, trusted only when signed like GitHub's X-Hub-Signature-256."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from monop.http import Handler, Request, Response, text

HEADER = "x-hub-signature-256"


def signature(secret: str, body: bytes) -> str:
    """The header value a sender computes: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid(secret: str | None, body: bytes, header: str | None) -> bool:
    """Compared in constant time; no secret configured means nothing is valid."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def handler(
    secret: Callable[[], str | None], trigger: Callable[[], object], refused: Callable[[], object]
) -> Handler:
    """A route that calls `trigger` for a signed request and answers 401 to anything else."""

    async def hook(request: Request) -> Response:
        if not valid(secret(), request.body, request.headers.get(HEADER)):
            refused()
            return text(401, "signature missing or wrong")
        trigger()
        return text(202, "fetching")

    return hook
