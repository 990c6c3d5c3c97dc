"""POST /hooks/git: a push notification, trusted only when signed like GitHub's X-Hub-Signature-256.

A signed request only makes the daemon fetch its branch now: the body is never read for what to
apply. A delivery seen before is refused (409): GitHub's signature covers the body, not the
`X-GitHub-Delivery` header, so a delivery is known by its id and by its body's digest, each kept
for `Deliveries.ttl` seconds (24 h) and at most `Deliveries.size` of them (10,000), in memory.
A request without the header is accepted and de-duplicated by its body alone.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

from monop.daemon.http import Handler, Request, Response, text

HEADER = "x-hub-signature-256"
DELIVERY = "x-github-delivery"


def signature(secret: str, body: bytes) -> str:
    """The header value a sender computes: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid(secret: str | None, body: bytes, header: str | None) -> bool:
    """Compared in constant time; no secret configured means nothing is valid."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


class Deliveries:
    """The deliveries accepted lately: ids and body digests, for `ttl` seconds, at most `size`."""

    def __init__(
        self, ttl: float = 24 * 3600.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.size, self._clock = ttl, size, clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when accepted, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, delivery: str | None, body: bytes) -> bool:
        """Record a delivery and say True, or say False if its id or its body was seen before."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) <= now - self.ttl:
            self._seen.popitem(last=False)
        keys = ["body:" + hashlib.sha256(body).hexdigest()]
        if delivery:
            keys.append("id:" + delivery.strip())
        if any(key in self._seen for key in keys):
            return False
        for key in keys:
            self._seen[key] = now
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


def handler(
    secret: Callable[[], str | None],
    trigger: Callable[[], object],
    refused: Callable[[str], object],
    deliveries: Deliveries | None = None,
) -> Handler:
    """A route that calls `trigger` for a signed, new delivery.

    Unsigned or wrongly signed: 401, `refused("signature")`. Seen before: 409, `refused("replayed")`.
    """
    seen = deliveries if deliveries is not None else Deliveries()

    async def hook(request: Request) -> Response:
        if not valid(secret(), request.body, request.headers.get(HEADER)):
            refused("signature")
            return text(401, "signature missing or wrong")
        if not seen.accept(request.headers.get(DELIVERY), request.body):
            refused("replayed")
            return text(409, "delivery seen before: ignored")
        trigger()
        return text(202, "fetching")

    return hook
