"""A local HTTP server that answers like Stripe's API for what the card gateway uses, and signs webhooks.

Test cards follow Stripe's test payment methods: ``pm_card_chargeDeclined`` is declined,
``pm_card_authenticationRequired`` needs the customer, ``pm_card_processing`` settles later; others succeed.
Idempotency keys are honoured: a repeated key gets the first answer, as at Stripe.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


def sign_webhook(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header by Stripe's scheme: HMAC-SHA256 of "<t>.<payload>" with the secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def event_payload(event_type: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{abs(hash((event_type, json.dumps(obj, sort_keys=True), time.time())))}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
            "pending_webhooks": 1,
            "request": {"id": None},
        }
    )


def _nested(pairs) -> dict:
    """Stripe's form encoding (metadata[key]=value, automatic_payment_methods[enabled]=true) back to dicts."""
    result: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


class FakeStripe:
    def __init__(self):
        self.requests: list[dict] = []
        self.objects: dict[str, dict] = {}
        self._idempotent: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path: str) -> list[dict]:
        return [request for request in self.requests if request["method"] == "POST" and request["path"] == path]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _handle(self, handler, method: str):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        params = _nested(parse_qsl(body, keep_blank_values=True))
        key = handler.headers.get("Idempotency-Key")
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": handler.path,
                    "params": params,
                    "idempotency_key": key,
                    "authorization": handler.headers.get("Authorization", ""),
                }
            )
            if not handler.headers.get("Authorization", "").startswith("Bearer sk_test_"):
                status, answer = 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key."}}
            elif method == "POST" and key and key in self._idempotent:
                status, answer = self._idempotent[key]
            else:
                status, answer = self._route(method, handler.path, params)
                if method == "POST" and key:
                    self._idempotent[key] = (status, answer)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_{next(self._ids)}")
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/customers":
            return self._store({"id": self._new_id("cus"), "object": "customer", "email": params.get("email")})
        if method == "POST" and path == "/v1/payment_intents":
            return self._payment_intent(params)
        if method == "POST" and path == "/v1/setup_intents":
            intent_id = self._new_id("seti")
            return self._store(
                {
                    "id": intent_id,
                    "object": "setup_intent",
                    "client_secret": f"{intent_id}_secret_x",
                    "customer": params.get("customer"),
                    "status": "requires_payment_method",
                    "metadata": params.get("metadata", {}),
                }
            )
        if method == "POST" and path == "/v1/refunds":
            return self._store(
                {
                    "id": self._new_id("re"),
                    "object": "refund",
                    "status": "succeeded",
                    "amount": int(params["amount"]),
                    "payment_intent": params.get("payment_intent"),
                }
            )
        if method == "GET" and path.startswith("/v1/payment_methods/"):
            method_id = path.rsplit("/", 1)[1]
            return 200, {
                "id": method_id,
                "object": "payment_method",
                "type": "card",
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
            }
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {path}."}}

    def _store(self, obj: dict, status: int = 200) -> tuple[int, dict]:
        self.objects[obj["id"]] = obj
        return status, obj

    def _payment_intent(self, params: dict) -> tuple[int, dict]:
        intent_id = self._new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": params["currency"],
            "customer": params.get("customer"),
            "payment_method": params.get("payment_method"),
            "client_secret": f"{intent_id}_secret_x",
            "metadata": params.get("metadata", {}),
            "status": "requires_payment_method",
            "last_payment_error": None,
        }
        if params.get("confirm") != "true":
            return self._store(intent)
        method = params.get("payment_method", "")
        if method == "pm_card_chargeDeclined":
            intent["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
            self.objects[intent_id] = intent
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
        if method == "pm_card_authenticationRequired":
            intent["status"] = "requires_action"
        elif method == "pm_card_processing":
            intent["status"] = "processing"
        else:
            intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
        return self._store(intent)
