"""A misbehaving OpenAI-compatible server on 127.0.0.1: huge or malformed Retry-After, a server
that echoes the API key back, one that always fails. The run neither sleeps for an hour, nor
writes the key anywhere, nor retries a failed request twice over."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from tests.fakes import CharGramEncoder

SECRET = "sk-live-SECRET-0123456789abcdef"


class HostileServer:
    """``retry_after``: the header a first 429 carries; ``echo``: answers with the request's
    Authorization header in the response (and in error bodies); prompts with FAIL always get 500."""

    def __init__(self, retry_after: str | None = None, echo: bool = False) -> None:
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = [p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text"][-1]
                with server.lock:
                    server.requests[prompt] += 1
                    first = server.requests[prompt] == 1
                auth = self.headers.get("Authorization", "")
                if "FAIL" in prompt:
                    return self.reply(500, f"internal error, you sent {auth}".encode() if echo else b"")
                if "BADREQ" in prompt:
                    return self.reply(400, f"bad request from {auth}".encode())
                if retry_after is not None and first:
                    return self.reply(429, b"", {"Retry-After": retry_after})
                content = f"<answer>you said {auth}</answer>" if echo else "<answer>x</answer>"
                self.reply(200, json.dumps({"choices": [{"message": {"content": content}}]}).encode(),
                           {"Content-Type": "application/json"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def card_for(server: HostileServer, **options) -> ModelCard:
    return ModelCard(name="served", adapter="openai", model="served-model", adapter_options={
        "base_url": server.url, "api_key_env": "FINEBENCH_FUZZ_KEY", "backoff_s": 0.01, "timeout_s": 5, **options})


@pytest.fixture()
def sleeps(monkeypatch):
    """Every asyncio.sleep of the adapter, recorded and skipped (an hour-long wait costs nothing)."""
    import asyncio

    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay, *args, **kwargs):
        recorded.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("finebench.adapters.openai.asyncio.sleep", fake_sleep)
    monkeypatch.setenv("FINEBENCH_FUZZ_KEY", SECRET)
    return recorded


def generate(card: ModelCard, prompts: list[str]) -> list[str]:
    from finebench.adapters.instance import Request
    from finebench.data.demo import demo_image

    adapter = create_adapter(card, RuntimeOptions())
    return adapter.generate([Request("t", i, 0, p, demo_image(0, 0), ("A",), {"max_new_tokens": 4})
                             for i, p in enumerate(prompts)])


@pytest.mark.parametrize(("header", "expected"), [
    ("3600", 60.0),          # capped at max_retry_after_s (default 60)
    ("inf", 0.01),           # unreadable: the backoff applies
    ("nan", 0.01),
    ("soon", 0.01),
    ("-5", 0.0),
])
def test_retry_after_seconds_are_capped_and_malformed_values_ignored(sleeps, header, expected):
    server = HostileServer(retry_after=header)
    try:
        assert generate(card_for(server), ["q"]) == ["<answer>x</answer>"]
    finally:
        server.close()
    assert sleeps == [pytest.approx(expected, abs=1e-6)]


def test_retry_after_as_an_http_date(sleeps):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = HostileServer(retry_after=later)
    try:
        assert generate(card_for(server, max_retry_after_s=120), ["q"]) == ["<answer>x</answer>"]
    finally:
        server.close()
    assert 25 <= sleeps[0] <= 31
    from finebench.adapters.openai import retry_after_seconds

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now) == 10.0
    assert retry_after_seconds("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0
    assert retry_after_seconds("", now) is None


def test_an_echoing_server_never_gets_the_key_written(sleeps, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server = HostileServer(echo=True)
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=3)
    card = card_for(server, max_retries=1)
    adapter = create_adapter(card, RuntimeOptions())
    try:
        config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "out", trials=1)
        Evaluator(config, adapter, card, encoder_loader=lambda spec: CharGramEncoder()).run()
        for prompt in ("FAIL", "BADREQ"):
            with pytest.raises(Exception) as failure:
                generate(card, [prompt])
            assert SECRET not in str(failure.value)
    finally:
        server.close()
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").glob("*.json*"))
    assert "[REDACTED]" in written and SECRET not in written
    assert SECRET not in caplog.text


def test_a_failing_request_is_not_retried_twice_over(sleeps, tmp_path):
    """The adapter retries each request max_retries times; the runner then records the failure per
    sample instead of asking again one by one (which retried max_retries times more)."""
    server = HostileServer()
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=3)
    card = card_for(server, max_retries=2)
    adapter = create_adapter(card, RuntimeOptions())
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "out", trials=1)
    evaluator = Evaluator(config, adapter, card, encoder_loader=lambda spec: CharGramEncoder())
    original = evaluator._ask

    def ask(requests):  # the first item's prompt makes the server fail
        for r in requests:
            if r.doc_id == 0:
                object.__setattr__(r, "prompt", "FAIL " + r.prompt)
        return original(requests)

    evaluator._ask = ask
    try:
        results = evaluator.run()
    finally:
        server.close()
    assert results["results"]["cub_closed_seen"]["n_errors"] == 1
    failing = [p for p in server.requests if p.startswith("FAIL")]
    assert len(failing) == 1 and server.requests[failing[0]] == 3  # 1 + max_retries, not twice that
    assert all(n == 1 for p, n in server.requests.items() if not p.startswith("FAIL"))
