"""A fake of the Messenger Platform Send API (Graph API), following CHANNELS.md's Graph
conventions and Meta's Send API contract:

- ``POST /{version}/{page-id}/messages`` with ``access_token`` (query, form or
  ``Authorization: Bearer``) and a JSON body ``{"recipient": {"id": PSID},
  "messaging_type": "RESPONSE" | "UPDATE" | "MESSAGE_TAG", "message": {"text", "quick_replies"?}}``
  answers ``{"recipient_id", "message_id"}``;
- errors use the Graph envelope ``{"error": {"message", "type", "code", "error_subcode",
  "fbtrace_id"}}``: unknown token 190 (HTTP 400); text over 2,000 characters or more than 13
  quick replies (title ≤ 20 characters) 100; a ``RESPONSE`` outside 24 hours of the person's
  last message code 10, subcode 2018278 (HTTP 400); unknown recipient 100/2018001.

``interact(psid)`` records a person's message (opens the 24-hour window); ``sent`` lists what
was delivered.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes import FakeServer, Received, Reply

PAGE_ID = "1122334455"
PAGE_TOKEN = "EAAPAGE-messenger-token"
WINDOW = timedelta(hours=24)


class FakeMessenger(FakeServer):
    def __init__(self, *, page_id: str = PAGE_ID, token: str = PAGE_TOKEN,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        super().__init__()
        self.page_id, self.token, self.clock = page_id, token, clock
        self.last_message: dict[str, datetime] = {}
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def interact(self, psid: str, hours_ago: float = 0.0) -> None:
        self.last_message[psid] = self.clock() - timedelta(hours=hours_ago)

    @staticmethod
    def _error(code: int, message: str, subcode: int | None = None, status: int = 400) -> Reply:
        err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                               "fbtrace_id": "AbCdEf123"}
        if subcode is not None:
            err["error_subcode"] = subcode
        return Reply(status, {"error": err})

    def handle(self, req: Received) -> Reply:
        m = re.fullmatch(r"/v\d+\.\d+/([^/]+)/messages", req.path)
        if req.method != "POST" or m is None:
            return self._error(100, "Unsupported request")
        params = req.params()
        auth = req.header("authorization") or ""
        token = params.get("access_token") or (auth[7:] if auth.lower().startswith("bearer ") else None)
        if token != self.token or m.group(1) != self.page_id:
            return self._error(190, "Invalid OAuth access token.")
        body = req.json if isinstance(req.json, dict) else {}
        psid = str((body.get("recipient") or {}).get("id") or "")
        message = body.get("message") or {}
        if not psid or not isinstance(message, dict) or not message.get("text"):
            return self._error(100, "(#100) Invalid parameter")
        if len(message["text"]) > 2000:
            return self._error(100, "(#100) Length of param message[text] must be less than or equal to 2000")
        qr = message.get("quick_replies") or []
        if len(qr) > 13 or any(len(str(q.get("title", ""))) > 20 for q in qr):
            return self._error(100, "(#100) Invalid quick_replies")
        if psid not in self.last_message:
            return self._error(100, "(#100) No matching user found", 2018001)
        if body.get("messaging_type", "RESPONSE") == "RESPONSE" and self.clock() - self.last_message[psid] > WINDOW:
            return self._error(10, "(#10) This message is sent outside of allowed window.", 2018278)
        mid = f"m_{next(self._ids)}"
        with self.lock:
            self.sent.append({"recipient": psid, "text": message["text"], "quick_replies": qr, "message_id": mid})
        return Reply(200, {"recipient_id": psid, "message_id": mid})


def start_messenger(**kwargs: Any) -> FakeMessenger:
    return FakeMessenger(**kwargs).start()  # type: ignore[return-value]
