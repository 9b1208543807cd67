"""The webhook adapter against a real HTTP server on loopback: CloudEvents 1.0 structured, Slack body, retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkit.adapters.webhook import Format, Notification, Webhook
from toolkit.errors import DeliveryError


@pytest.fixture
def server():
    got: list[tuple[str, dict]] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", got, answers
    httpd.shutdown()
    httpd.server_close()


NOTE = Notification(id="ns/web/update:1.1.0/1/raised", type="dev.chartkit.notice.raised", source="/chartkit-watch/ns/web",
                    subject="ns/web", data={"kind": "update available"}, time="2026-11-29T06:00:00Z",
                    text="chartkit: ns/web runs tiny 1.0.0: update available (1.1.0)")


def test_a_cloudevent_is_posted_structured_and_retried_through_5xx(server):
    url, got, answers = server
    answers += [503, 500]
    with Webhook(url, attempts=3, backoff=0.01) as hook:
        hook.send(NOTE)
    assert len(got) == 3
    content_type, event = got[-1]
    assert content_type == "application/cloudevents+json"
    assert (event["specversion"], event["id"], event["type"], event["subject"]) == (
        "1.0", NOTE.id, NOTE.type, "ns/web")
    assert event["data"] == {"kind": "update available"} and event["time"].startswith("2026-11-29T06:00:00")


def test_slack_body_and_failures(server):
    url, got, answers = server
    with Webhook(url, format=Format.SLACK) as hook:
        hook.send(NOTE)
    assert got[-1] == ("application/json", {"text": NOTE.text})
    answers += [400]
    with Webhook(url, attempts=3, backoff=0.01) as hook, pytest.raises(DeliveryError, match="HTTP 400"):
        hook.send(NOTE)  # a client error is not retried
    assert len(got) == 2
    with Webhook("http://127.0.0.1:9/", attempts=2, backoff=0.01) as hook, \
            pytest.raises(DeliveryError, match='unable to deliver notice "ns/web/update:1.1.0/1/raised"'):
        hook.send(NOTE)
