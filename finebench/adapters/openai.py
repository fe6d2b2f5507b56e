"""OpenAI-compatible chat completions (a ``vllm serve`` endpoint or a hosted API).

Requests run concurrently under a semaphore; 429, 5xx, timeouts and connection errors are
retried with exponential backoff. A server's ``Retry-After`` (seconds or an HTTP date) is
honoured up to ``max_retry_after_s`` (60 s by default): a remote server is not trusted to make a
run sleep for an hour. A request that still fails is reported per sample (``PartialBatchError``),
so the runner does not retry it a second time over.

The API key is read from the environment variable the card names and is kept out of the
fingerprint, repr and logs; whatever the server sends back (responses, error bodies) is redacted
of it, and of credentials in the URL, before it is written anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from finebench.adapters.base import Adapter, PartialBatchError
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
    max_retry_after_s: float = 60.0
    """Longest wait a server's Retry-After can impose before a retry."""


def endpoint_settings(card: ModelCard) -> EndpointSettings:
    options = dict(card.adapter_options)
    unknown = sorted(set(options) - set(EndpointSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{card.source_file or card.name}: unknown adapter_options {', '.join(unknown)}")
    if not isinstance(options.get("base_url"), str):
        raise ConfigError(f"{card.source_file or card.name}: adapter_options.base_url is required")
    where = card.source_file or card.name
    for key, kind in (("concurrency", int), ("max_retries", int), ("timeout_s", float), ("backoff_s", float),
                      ("max_retry_after_s", float)):
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int)):
            raise ConfigError(f"{where}: adapter_options.{key} must be a {'number' if kind is float else 'whole number'}, not {value!r}")
    if options.get("api_key_env") is not None and not isinstance(options["api_key_env"], str):
        raise ConfigError(f"{where}: adapter_options.api_key_env must be the name of an environment variable")
    settings = EndpointSettings(**options)
    if (settings.concurrency < 1 or settings.max_retries < 0 or not 0 < settings.timeout_s < math.inf
            or settings.backoff_s < 0 or not 0 <= settings.max_retry_after_s < math.inf):
        raise ConfigError(f"{where}: adapter_options need concurrency >= 1, max_retries >= 0, timeout_s > 0, "
                          "backoff_s >= 0 and a finite max_retry_after_s >= 0")
    return settings


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delta-seconds or an HTTP date; None if absent
    or unreadable (then the backoff applies). Never negative; ``inf``/``nan`` read as unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def strip_credentials(url: str) -> str:
    """``url`` without user:password and without a query string (Azure-style ``?api-key=``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


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
        self.endpoint = settings
        """The card's endpoint options (``settings()`` is the Adapter method results.json records)."""
        self._api_key = api_key
        self._secrets = tuple(s for s in (api_key, *_url_secrets(settings.base_url)) if s and len(s) >= 4)
        self._where = strip_credentials(settings.base_url)

    def __repr__(self) -> str:
        return f"OpenAIAdapter(model={self.model!r}, base_url={self._where!r})"

    def redact(self, text: str) -> str:
        """``text`` with the API key and URL credentials replaced: a server may echo them."""
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

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
        return f"openai:{self._where.rstrip('/')}|model={self.model}"

    def generate(self, requests: Sequence[Request]) -> list[str]:
        return asyncio.run(self._generate_all([chat_payload(self.model, r) for r in requests]))

    async def _generate_all(self, payloads: list[dict[str, Any]]) -> list[str]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        semaphore = asyncio.Semaphore(self.endpoint.concurrency)
        limits = httpx.Limits(max_connections=self.endpoint.concurrency)
        async with httpx.AsyncClient(base_url=self.endpoint.base_url, headers=headers, limits=limits,
                                     timeout=self.endpoint.timeout_s) as client:
            done = await asyncio.gather(*(self._one(client, semaphore, p) for p in payloads), return_exceptions=True)
        failures = [None if isinstance(d, str) else self.redact(f"{type(d).__name__}: {d}") for d in done]
        if any(f is not None for f in failures):
            for item in done:
                if isinstance(item, BaseException) and not isinstance(item, Exception):
                    raise item  # KeyboardInterrupt, cancellation: not a per-sample failure
            raise PartialBatchError([d if isinstance(d, str) else None for d in done], failures)
        return [str(d) for d in done]

    async def _one(self, client: Any, semaphore: asyncio.Semaphore, payload: dict[str, Any]) -> str:
        import httpx

        problem = ""
        for attempt in range(self.endpoint.max_retries + 1):
            delay = self.endpoint.backoff_s * 2**attempt
            async with semaphore:
                try:
                    response = await client.post("/chat/completions", json=payload)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}"
                else:
                    if response.status_code == 200:
                        return self.redact(_content(response, self._where))
                    if response.status_code not in RETRY_STATUS:
                        raise FinebenchError(self.redact(f"{self._where}: HTTP {response.status_code}: {response.text[:200]}"))
                    problem = f"HTTP {response.status_code}"
                    asked = retry_after_seconds(response.headers.get("Retry-After"))
                    if asked is not None:
                        delay = min(asked, self.endpoint.max_retry_after_s)
            if attempt == self.endpoint.max_retries:
                break
            log.info("openai request failed (%s), retry %d in %.1f s", problem, attempt + 1, delay)
            await asyncio.sleep(delay)
        raise FinebenchError(f"{self._where}: gave up after {self.endpoint.max_retries} retries ({problem})")


def _content(response, where: str) -> str:
    """The message text of a chat completion; anything else is a clear per-sample error."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise FinebenchError(f"{where}: not a chat completion ({type(exc).__name__})") from exc
    if content is not None and not isinstance(content, str):
        raise FinebenchError(f"{where}: message content is not text")
    return content or ""


def _url_secrets(url: str) -> tuple[str, ...]:
    """User name, password and query values of a URL: secrets to redact."""
    from urllib.parse import parse_qsl

    parts = urlsplit(url)
    return tuple(s for s in (parts.username, parts.password, *(v for _, v in parse_qsl(parts.query))) if s)
