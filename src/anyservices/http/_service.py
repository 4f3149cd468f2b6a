"""HttpService: an httpx client with typed helpers, retries and a circuit breaker."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
import pydantic

from .._core._models import dump_json, load_json, load_model
from .._core._secrets import mask_url
from .._core._service import Service, shielded
from .._core._telemetry import http_attributes, http_telemetry
from ._breaker import CircuitBreaker
from ._config import HttpConfig
from ._errors import (
    HttpCircuitOpenError,
    HttpDataError,
    HttpError,
    HttpTimeoutError,
    map_errors,
    safe_url,
    status_error,
)
from ._retry import IDEMPOTENT_METHODS, backoff_delay, parse_retry_after
from ._statistics import HttpStatistics
from ._types import Headers, JsonBody, ModelT, Params, ProgressCallback

if TYPE_CHECKING:
    import logging

    from .._core._portal import Portal
    from ._sync import SyncHttpService

__all__ = ("HttpService",)


_CLIENT_ERROR = 400
_SERVER_ERROR = 500


class HttpService(Service[HttpConfig]):
    """An HTTP client service on httpx.

    ``transport`` replaces the network (an ``httpx.MockTransport`` in unit tests).
    Opening does no network I/O (HTTP has no session to establish): use
    :meth:`health_check` to probe the server.
    """

    service_name = "http"

    def __init__(
        self,
        config: HttpConfig,
        *,
        logger: logging.Logger | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, logger=logger)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._breaker = CircuitBreaker(config.breaker)
        self._telemetry = http_telemetry()
        self._requests = 0
        self._retries = 0
        self._failures = 0

    def _describe(self) -> str:
        return safe_url(self.config.base_url) if self.config.base_url else "(no base url)"

    async def probe(self) -> None:
        """Raise the reason this service is not ready: one GET of ``health_path``, never
        retried; a status of 400 or more raises :class:`HttpStatusError` naming it."""
        await self.get(self.config.health_path, retry=False, raise_for_status=True)

    async def _open(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        headers = {"User-Agent": cfg.user_agent, **cfg.headers}
        if cfg.bearer_token is not None:
            headers["Authorization"] = f"Bearer {cfg.bearer_token.get_secret_value()}"
        # Built in a worker thread: the first client imports httpcore and every one loads
        # the CA bundle (0.35 s and 30 ms measured), which would stall the event loop.
        # Credentials in base_url become an auth flow: httpx logs every request's URL.
        base_url, auth = _without_userinfo(httpx.URL(cfg.base_url))
        client = await anyio.to_thread.run_sync(
            functools.partial(
                httpx.AsyncClient,
                base_url=base_url,
                auth=auth,
                headers=headers,
                timeout=cfg.httpx_timeout(),
                limits=cfg.httpx_limits(),
                follow_redirects=cfg.follow_redirects,
                verify=cfg.verify_tls,
                transport=self._transport,
            )
        )
        stack.push_async_callback(shielded(client.aclose))
        self._client = client

    # -- the core: one request with retries and the breaker -------------------------

    def _client_or_raise(self) -> httpx.AsyncClient:
        self._check_open()
        assert self._client is not None  # noqa: S101 -- set by _open
        return self._client

    async def _send(  # noqa: C901 -- the retry loop reads best in one piece
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        json: JsonBody = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        retry: bool | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        client = self._client_or_raise()
        method = method.upper()
        request, auth = _build_request(client, method, path, params, headers, json, content, data)
        url = safe_url(request.url)
        policy = self.config.retry
        allowed = (
            retry
            if retry is not None
            else (method in IDEMPOTENT_METHODS or policy.retry_non_idempotent)
        )
        attempts = policy.max_attempts if allowed else 1
        deadline = None if policy.deadline is None else anyio.current_time() + policy.deadline
        attempt = 0
        while True:
            attempt += 1
            if not self._breaker.allow():
                retry_in = self._breaker.statistics().retry_in
                raise HttpCircuitOpenError(
                    f"circuit open after repeated failures; next trial in {retry_in:.1f}s",
                    service="http",
                    operation=method,
                    resource=url,
                )
            self._requests += 1
            with self._breaker.guard() as outcome:
                try:
                    attributes = http_attributes(url, attempt - 1)  # a span per attempt
                    with self._telemetry.operation(method, None, attributes) as op:
                        with map_errors(method, url):
                            response = await client.send(
                                request, stream=stream, auth=auth or httpx.USE_CLIENT_DEFAULT
                            )
                        op.set_status_code(response.status_code)
                except HttpError as error:
                    self._failures += 1
                    outcome.failed = True
                    if isinstance(error, HttpTimeoutError):
                        retryable = policy.retry_on_timeout
                    else:  # only a connection never made is surely safe to try again
                        retryable = policy.retry_on_connect_error and isinstance(
                            error.__cause__, httpx.ConnectError
                        )
                    delay = backoff_delay(policy, attempt)
                    if not retryable or attempt >= attempts or _past(deadline, delay):
                        raise
                else:
                    status = response.status_code
                    if status < _SERVER_ERROR and status not in policy.retry_statuses:
                        return response
                    self._failures += 1
                    outcome.failed = status >= _SERVER_ERROR
                    if status not in policy.retry_statuses or attempt >= attempts:
                        return response
                    delay = backoff_delay(policy, attempt)
                    if policy.respect_retry_after:
                        told = parse_retry_after(response.headers.get("Retry-After"))
                        if told is not None:
                            delay = min(told, policy.retry_after_max)
                    if _past(deadline, delay):
                        return response  # no time for another try: the last answer stands
                    await response.aclose()
            self._retries += 1
            self._logger.debug("%s %s: retry %d in %.3fs", method, url, attempt, delay)
            await anyio.sleep(delay)

    def _check_status(self, response: httpx.Response, raise_for_status: bool | None) -> None:
        wanted = self.config.raise_for_status if raise_for_status is None else raise_for_status
        if wanted and response.status_code >= _CLIENT_ERROR:
            raise status_error(response)

    # -- the verbs -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        json: JsonBody = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        """Send a request; the body is read. ``retry=True`` lets a non-idempotent
        request be retried, ``retry=False`` disables retries for this call."""
        response = await self._send(
            method,
            path,
            params=params,
            headers=headers,
            json=json,
            content=content,
            data=data,
            retry=retry,
        )
        self._check_status(response, raise_for_status)
        return response

    async def get(
        self,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        return await self.request(
            "GET",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def head(
        self,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        return await self.request(
            "HEAD",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def options(
        self,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        return await self.request(
            "OPTIONS",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def delete(
        self,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        return await self.request(
            "DELETE",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def post(
        self,
        path: str,
        *,
        json: JsonBody = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        """POST is not retried unless ``retry=True`` (or ``retry_non_idempotent``)."""
        return await self.request(
            "POST",
            path,
            json=json,
            content=content,
            data=data,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def put(
        self,
        path: str,
        *,
        json: JsonBody = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        return await self.request(
            "PUT",
            path,
            json=json,
            content=content,
            data=data,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    async def patch(
        self,
        path: str,
        *,
        json: JsonBody = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        raise_for_status: bool | None = None,
    ) -> httpx.Response:
        """PATCH is not retried unless ``retry=True`` (or ``retry_non_idempotent``)."""
        return await self.request(
            "PATCH",
            path,
            json=json,
            content=content,
            data=data,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=raise_for_status,
        )

    # -- typed helpers: JSON and pydantic models; a bad status always raises ------------

    def _decode_json(self, response: httpx.Response) -> JsonBody:
        request = response.request
        return load_json(
            response.content,
            error=HttpDataError,
            resource=safe_url(request.url),
            operation=request.method,
        )

    def _parse(self, response: httpx.Response, model: Any) -> Any:
        request = response.request
        return load_model(
            model,
            response.content,
            error=HttpDataError,
            resource=safe_url(request.url),
            operation=request.method,
        )

    async def get_json(
        self,
        path: str,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> JsonBody:
        """GET and decode the JSON body; a 4xx/5xx raises HttpStatusError."""
        response = await self.request(
            "GET",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=True,
        )
        return self._decode_json(response)

    async def post_json(
        self,
        path: str,
        json: JsonBody,
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> JsonBody:
        response = await self.request(
            "POST",
            path,
            json=json,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=True,
        )
        return self._decode_json(response)

    async def get_model(
        self,
        path: str,
        model: type[ModelT],
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> ModelT:
        """GET and parse the body into ``model``; a mismatch raises HttpDataError
        naming the field, a 4xx/5xx HttpStatusError."""
        response = await self.request(
            "GET",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=True,
        )
        result: ModelT = self._parse(response, model)
        return result

    async def get_models(
        self,
        path: str,
        model: type[ModelT],
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> list[ModelT]:
        """GET a JSON array and parse each item into ``model``."""
        response = await self.request(
            "GET",
            path,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=True,
        )
        result: list[ModelT] = self._parse(response, list[model])  # type: ignore[valid-type]
        return result

    async def _send_model(
        self,
        method: str,
        path: str,
        body: pydantic.BaseModel | JsonBody,
        model: type[ModelT],
        *,
        params: Params,
        headers: Headers,
        retry: bool | None,
    ) -> ModelT:
        response = await self.request(
            method,
            path,
            json=body,
            params=params,
            headers=headers,
            retry=retry,
            raise_for_status=True,
        )
        result: ModelT = self._parse(response, model)
        return result

    async def post_model(
        self,
        path: str,
        body: pydantic.BaseModel | JsonBody,
        model: type[ModelT],
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> ModelT:
        """POST ``body`` (a model, or JSON-able data) and parse the answer into ``model``."""
        return await self._send_model(
            "POST", path, body, model, params=params, headers=headers, retry=retry
        )

    async def put_model(
        self,
        path: str,
        body: pydantic.BaseModel | JsonBody,
        model: type[ModelT],
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> ModelT:
        return await self._send_model(
            "PUT", path, body, model, params=params, headers=headers, retry=retry
        )

    async def patch_model(
        self,
        path: str,
        body: pydantic.BaseModel | JsonBody,
        model: type[ModelT],
        *,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> ModelT:
        return await self._send_model(
            "PATCH", path, body, model, params=params, headers=headers, retry=retry
        )

    # -- streaming ------------------------------------------------------------------------

    @asynccontextmanager
    async def _stream(
        self, path: str, params: Params, headers: Headers, retry: bool | None
    ) -> AsyncGenerator[httpx.Response]:
        response = await self._send(
            "GET", path, params=params, headers=headers, retry=retry, stream=True
        )
        try:
            if response.status_code >= _CLIENT_ERROR:
                await response.aread()
                raise status_error(response)
            yield response
        finally:
            await shielded(response.aclose)()

    async def stream_bytes(
        self,
        path: str,
        *,
        chunk_size: int = 65536,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
    ) -> AsyncGenerator[bytes]:
        """GET ``path`` and yield its body in chunks, never holding it whole."""
        async with self._stream(path, params, headers, retry) as response:
            with map_errors("GET", safe_url(response.request.url)):
                async for chunk in response.aiter_bytes(chunk_size):
                    yield chunk

    async def download_to_file(
        self,
        path: str,
        dest: str | os.PathLike[str],
        *,
        chunk_size: int = 65536,
        params: Params = None,
        headers: Headers = None,
        retry: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Stream ``path`` into the file ``dest``; returns the byte count.

        The body goes to ``dest + ".part"`` first and is renamed when complete, so
        ``dest`` never holds a partial download (the part file is removed on error).
        """
        target = anyio.Path(dest)
        part = target.with_name(target.name + ".part")
        written = 0
        try:
            async with self._stream(path, params, headers, retry) as response:
                total = _content_length(response)
                async with await anyio.open_file(part, "wb") as file:
                    with map_errors("GET", safe_url(response.request.url)):
                        async for chunk in response.aiter_bytes(chunk_size):
                            await file.write(chunk)
                            written += len(chunk)
                            if progress is not None:
                                progress(written, total)
            await part.replace(target)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await part.unlink(missing_ok=True)
            raise
        return written

    # -- health and statistics ----------------------------------------------------------

    async def health_check(self) -> bool:
        """GET ``config.health_path`` once (no retries): True on a status below 400.

        Transport failures raise (HttpConnectError, HttpTimeoutError), so a caller
        learns why; an open breaker raises HttpCircuitOpenError.
        """
        response = await self.request(
            "GET", self.config.health_path, retry=False, raise_for_status=False
        )
        return response.status_code < _CLIENT_ERROR

    def statistics(self) -> HttpStatistics:
        return HttpStatistics(
            requests=self._requests,
            retries=self._retries,
            failures=self._failures,
            breaker=self._breaker.statistics(),
        )

    def __blocking__(self, portal: Portal) -> SyncHttpService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncHttpService = sync_face(portal, self)  # registered by ._sync
        return face


def _build_request(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    params: Params,
    headers: Headers,
    json: JsonBody,
    content: bytes | str | None,
    data: Mapping[str, str] | None,
) -> tuple[httpx.Request, httpx.BasicAuth | None]:
    """The request, and the credentials its URL held (taken out of it: httpx logs URLs)."""
    if json is not None:  # encoded by the shared codec: models too, and its errors are ours
        content = dump_json(json, error=HttpDataError, resource=mask_url(path), operation=method)
        headers = {"Content-Type": "application/json", **(headers or {})}
    with map_errors(method, mask_url(path)):
        request = client.build_request(
            method, path, params=params, headers=headers, content=content, data=data
        )
    request.url, auth = _without_userinfo(request.url)
    return request, auth


def _without_userinfo(url: httpx.URL) -> tuple[httpx.URL, httpx.BasicAuth | None]:
    """``url`` without ``user:password@``, and those as HTTP basic auth (None if absent)."""
    if not url.userinfo:
        return url, None
    return url.copy_with(username=None, password=None), httpx.BasicAuth(url.username, url.password)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _past(deadline: float | None, delay: float) -> bool:
    return deadline is not None and anyio.current_time() + delay > deadline
