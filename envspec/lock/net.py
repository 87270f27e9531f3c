"""HTTP for every index request envspec makes: one session policy, and one-shot reads.

``trust_env`` stays on, so the user's network settings apply (proxies, ``NO_PROXY``, a CA bundle in
``REQUESTS_CA_BUNDLE``); which indexes are consulted is decided by the callers alone.
"""

from __future__ import annotations

import dataclasses
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from urllib3.util.ssl_ import create_urllib3_context

from envspec.errors import EnvspecError

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs
    from requests.sessions import _Settings

USER_AGENT = "envspec"


class MirrorError(EnvspecError):
    """No mirror could answer; the message lists each one tried and why it failed."""


def reason_of(exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if isinstance(exc, requests.Timeout) or "timed out" in lowered:
        return "no answer within the timeout"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    return text.splitlines()[0][:200] if text else type(exc).__name__


class _SharedTrustAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections share one SSL context per CA bundle.

    With a CA bundle file configured (``REQUESTS_CA_BUNDLE``, as many sites and CI machines set it),
    urllib3 loads the whole bundle again for every new connection: about 0.1 s of CPU each, dozens
    of times per lock. Here it is loaded once per bundle; verification is unchanged.
    """

    def __init__(self) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()
        self._files: dict[str, bool] = {}
        super().__init__(pool_connections=16, pool_maxsize=32)

    def _context(self, bundle: str) -> ssl.SSLContext:
        with self._contexts_lock:
            if bundle not in self._contexts:
                context = create_urllib3_context()
                context.load_verify_locations(cafile=bundle)
                self._contexts[bundle] = context
            return self._contexts[bundle]

    def _bundle(self, verify: bool | str) -> str | None:
        """The CA bundle file ``verify`` names, if it is one (checked once per path)."""
        if not isinstance(verify, str):
            return None
        with self._contexts_lock:
            if verify not in self._files:
                self._files[verify] = Path(verify).is_file()
            return verify if self._files[verify] else None

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        bundle = self._bundle(verify)
        if host_params.get("scheme") == "https" and bundle is not None:
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = self._context(bundle)
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if url.lower().startswith("https") and self._bundle(verify) is not None:
            conn.ca_certs = None  # the pool's shared context already trusts that bundle
            conn.ca_cert_dir = None


class _Session(requests.Session):
    """A session that reads the user's network settings once per origin, not once per request.

    requests looks up the proxy variables (walking all of ``os.environ``, twice) and ``NO_PROXY`` for
    every request: in a profile of one lock that was 40% of the router's CPU time. The answer
    depends only on the origin and the request's own settings, and the environment does not change
    while envspec runs, so it is worked out once and reused.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[object, ...], _Settings] = {}
        self._settings_lock = threading.Lock()

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        text = url.decode() if isinstance(url, bytes) else url or ""
        parts = urlsplit(text)
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        with self._settings_lock:
            known = self._settings.get(key)
        if known is None:
            known = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._settings_lock:
                self._settings[key] = known
        return {**known, "proxies": dict(known["proxies"])}  # a copy: requests may change it


def http_session() -> requests.Session:
    """A new HTTP session with the policy of every index request envspec makes.

    ``trust_env`` stays on, so the user's network settings apply (proxies, ``NO_PROXY``, a CA bundle in
    ``REQUESTS_CA_BUNDLE``); which indexes are consulted is decided by the caller alone. Callers pass a
    timeout with each request.
    """
    session = _Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = _SharedTrustAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    """The body :func:`fetch_bytes` read, its Content-Type, and the URL it came from after redirects."""

    body: bytes
    content_type: str
    url: str


def fetch_bytes(session: requests.Session, url: str, *, timeout: float, accept: str | None = None) -> Fetched:
    """GET one URL once (no retries, no failover): a page or a ``.metadata`` file.

    Raises MirrorError naming the URL and why it could not be read (any answer but 200 included).
    """
    hint = "check the URL and the network (proxy, CA bundle), or allow a longer timeout"
    try:
        response = session.get(url, headers={"Accept": accept} if accept else {}, timeout=timeout)
    except requests.RequestException as exc:
        raise MirrorError(f"cannot read {url}: {reason_of(exc)}", hint=hint) from None
    with response:
        if response.status_code != 200:
            status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
            raise MirrorError(f"cannot read {url}: {status}", hint=hint)
        return Fetched(response.content, response.headers.get("Content-Type", ""), response.url)
