"""The OpenAI-compatible adapter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.adapters.instance import Request
from finebench.data.demo import demo_image
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

SECRET = "sk-test-0123456789"


class FakeServer:
    """Answers "<n images>|<prompt>"; prompts containing FAIL429 / FAIL500 / SLOW fail once first."""

    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.auth: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                parts = body["messages"][-1]["content"]
                prompt = [p["text"] for p in parts if p["type"] == "text"][-1]
                images = sum(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/png;base64,")
                             for p in parts)
                with server.lock:
                    server.auth.add(self.headers.get("Authorization", ""))
                    first = server.failed[prompt] == 0
                    for marker, status in (("FAIL429", 429), ("FAIL500", 500), ("SLOW", 0)):
                        if marker in prompt and first:
                            server.failed[prompt] += 1
                            break
                    else:
                        status = 200
                if status == 0:
                    time.sleep(1.0)
                    status = 200
                elif status != 200:
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with server.lock:
                    server.answered[prompt] += 1
                content = f"{images}|{prompt}|t={body['temperature']}|max={body['max_tokens']}"
                data = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def server():
    fake = FakeServer()
    yield fake
    fake.httpd.shutdown()


def adapter_for(server, monkeypatch, **options):
    monkeypatch.setenv("FINEBENCH_TEST_KEY", SECRET)
    card = ModelCard(name="served", adapter="openai", model="served-model",
                     adapter_options={"base_url": server.url, "api_key_env": "FINEBENCH_TEST_KEY", "backoff_s": 0.01,
                                      "timeout_s": 0.5, **options})
    return create_adapter(card, RuntimeOptions())


def request(prompt: str, demos: int = 0) -> Request:
    return Request("t", 0, 0, prompt, demo_image(0, 0), ("A", "B"), {"do_sample": False, "max_new_tokens": 7},
                   demonstrations=tuple((demo_image(i, 1), "A") for i in range(demos)))


def test_answers_come_back_in_order_with_images_and_greedy_settings(server, monkeypatch):
    adapter = adapter_for(server, monkeypatch, concurrency=8)
    outputs = adapter.generate([request(f"q{i}", demos=i % 2) for i in range(40)])
    assert outputs == [f"{1 + i % 2}|q{i}|t=0.0|max=7" for i in range(40)]
    assert server.auth == {f"Bearer {SECRET}"}


def test_failures_are_retried_and_nothing_is_lost_or_duplicated(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="finebench")
    adapter = adapter_for(server, monkeypatch, concurrency=4)
    prompts = [f"{kind} {i}" for i, kind in enumerate(["ok", "FAIL429", "FAIL500", "SLOW"] * 5)]
    assert adapter.generate([request(p) for p in prompts]) == [f"1|{p}|t=0.0|max=7" for p in prompts]
    assert all(server.answered[p] == 1 for p in prompts if "SLOW" not in p)
    assert all(server.failed[p] == 1 for p in prompts if "ok" not in p)
    assert SECRET not in caplog.text and SECRET not in adapter.fingerprint() and SECRET not in repr(adapter)


def test_giving_up_and_configuration_errors(server, monkeypatch):
    adapter = adapter_for(server, monkeypatch, max_retries=0)
    with pytest.raises(FinebenchError, match="gave up after 0 retries \\(HTTP 500\\)"):
        adapter.generate([request("FAIL500 once")])
    monkeypatch.delenv("FINEBENCH_TEST_KEY", raising=False)
    card = ModelCard(name="s", adapter="openai", model="m", adapter_options={"base_url": server.url, "api_key_env": "NOPE_KEY"})
    with pytest.raises(FinebenchError, match="NOPE_KEY"):
        create_adapter(card, RuntimeOptions())
    with pytest.raises(ConfigError, match="base_url is required"):
        create_adapter(ModelCard(name="s", adapter="openai", model="m"), RuntimeOptions())
    with pytest.raises(ConfigError, match="unknown adapter_options colour"):
        create_adapter(ModelCard(name="s", adapter="openai", model="m", adapter_options={"base_url": "x", "colour": 1}),
                       RuntimeOptions())
