"""OpenAI-compatible chat completions (a ``vllm serve`` endpoint or a hosted API).

Requests run concurrently under a semaphore; 429, 5xx, timeouts and connection errors are
retried with exponential backoff (``Retry-After`` honoured). The API key is read from the
environment variable the card names and is kept out of the fingerprint, repr and logs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finebench.adapters.base import Adapter
from finebench.adapters.factory import RuntimeOptions
from finebench.adapters.instance import Request
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

log = logging.getLogger("finebench")
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class EndpointSettings:
    base_url: str
    api_key_env: str | None = None
    concurrency: int = 16
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 0.5


def endpoint_settings(card: ModelCard) -> EndpointSettings:
    options = dict(card.adapter_options)
    unknown = sorted(set(options) - set(EndpointSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{card.source_file or card.name}: unknown adapter_options {', '.join(unknown)}")
    if not isinstance(options.get("base_url"), str):
        raise ConfigError(f"{card.source_file or card.name}: adapter_options.base_url is required")
    settings = EndpointSettings(**options)
    if settings.concurrency < 1 or settings.max_retries < 0 or settings.timeout_s <= 0:
        raise ConfigError(f"{card.source_file or card.name}: concurrency >= 1, max_retries >= 0, timeout_s > 0")
    return settings


def image_data_url(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat_payload(model: str, request: Request) -> dict[str, Any]:
    """The request body: our messages with images as data URLs; greedy means temperature 0."""
    messages = []
    for message in request.messages():
        content = [
            {"type": "image_url", "image_url": {"url": image_data_url(part["image"])}} if part["type"] == "image" else part
            for part in message["content"]
        ]
        messages.append({"role": message["role"], "content": content})
    kwargs = request.gen_kwargs
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": int(kwargs.get("max_new_tokens", 2048))}
    if kwargs.get("do_sample"):
        body.update({k: kwargs[k] for k in ("temperature", "top_p") if k in kwargs})
    else:
        body["temperature"] = 0.0
    if "seed" in kwargs:
        body["seed"] = int(kwargs["seed"])
    return body


class OpenAIAdapter(Adapter):
    options_type = EndpointSettings
    output = "text"

    def __init__(self, model: str, settings: EndpointSettings, api_key: str | None) -> None:
        self.model = model
        self.settings = settings
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"OpenAIAdapter(model={self.model!r}, base_url={self.settings.base_url!r})"

    @classmethod
    def from_card(cls, card: ModelCard, runtime: RuntimeOptions) -> OpenAIAdapter:
        settings = endpoint_settings(card)
        api_key = None
        if settings.api_key_env:
            api_key = os.environ.get(settings.api_key_env)
            if not api_key:
                raise FinebenchError(f"model {card.name!r}: set the API key in the environment variable {settings.api_key_env}")
        return cls(card.model, settings, api_key)

    def fingerprint(self) -> str:
        return f"openai:{self.settings.base_url.rstrip('/')}|model={self.model}"

    def generate(self, requests: Sequence[Request]) -> list[str]:
        return asyncio.run(self._generate_all([chat_payload(self.model, r) for r in requests]))

    async def _generate_all(self, payloads: list[dict[str, Any]]) -> list[str]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        limits = httpx.Limits(max_connections=self.settings.concurrency)
        async with httpx.AsyncClient(base_url=self.settings.base_url, headers=headers, limits=limits,
                                     timeout=self.settings.timeout_s) as client:
            return list(await asyncio.gather(*(self._one(client, semaphore, p) for p in payloads)))

    async def _one(self, client: Any, semaphore: asyncio.Semaphore, payload: dict[str, Any]) -> str:
        import httpx

        problem = ""
        for attempt in range(self.settings.max_retries + 1):
            delay = self.settings.backoff_s * 2**attempt
            async with semaphore:
                try:
                    response = await client.post("/chat/completions", json=payload)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}"
                else:
                    if response.status_code == 200:
                        return response.json()["choices"][0]["message"]["content"] or ""
                    if response.status_code not in RETRY_STATUS:
                        raise FinebenchError(f"{self.settings.base_url}: HTTP {response.status_code}: {response.text[:200]}")
                    problem = f"HTTP {response.status_code}"
                    delay = float(response.headers.get("Retry-After", delay))
            log.info("openai request failed (%s), retry %d", problem, attempt + 1)
            await asyncio.sleep(delay)
        raise FinebenchError(f"{self.settings.base_url}: gave up after {self.settings.max_retries} retries ({problem})")
