"""The channel adapter contract.

Every channel is one module with one ``Adapter`` subclass. The scheduler builds
an adapter from a channel account (config + secrets), hands it a frozen
``Message`` and gets back a ``SendResult`` -- never an exception.

The shape follows apprise: capabilities are declared as class attributes, a
declarative ``config_spec`` drives validation, forms and redacted display, and
the public ``deliver()`` wraps the subclass's ``_send()``.

This package imports neither Flask nor SQLModel: plain data in, plain data out.
"""

from __future__ import annotations

import enum
import html
import json
import logging
import os
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Protocol

import requests

log = logging.getLogger(__name__)

#: Seconds for connecting and for reading a reply. Every HTTP call uses a timeout.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)

#: Vietnam's civil time (Asia/Ho_Chi_Minh): UTC+7 all year, no daylight saving.
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


def nfc(text: str | None) -> str:
    """Text in Unicode NFC (Vietnamese lengths are counted on NFC)."""
    return unicodedata.normalize("NFC", text or "")


class Outcome(enum.StrEnum):
    """What became of one send, as the scheduler needs to know it."""

    SENT = "sent"  # accepted by the provider; external_id set where it gives one
    SCHEDULED = "scheduled"  # accepted for provider-side scheduled publishing (counts as sent)
    DUPLICATE = "duplicate"  # the provider says it already has this (counts as sent)
    TRANSIENT = "transient"  # nothing arrived or the provider failed: retry with backoff
    RATE_LIMITED = "rate_limited"  # slow down; retry_after tells how long when known
    AUTH_EXPIRED = "auth_expired"  # token invalid/expired and could not be refreshed
    PERMANENT = "permanent"  # the request itself is wrong: retrying cannot help
    AMBIGUOUS = "ambiguous"  # may have been delivered: never resend blindly, lookup()
    DEFERRED = "deferred"  # not allowed now (night ban, SMS window): try again at retry_at
    EXPIRED = "expired"  # the message's deadline (not_after) passed before sending


#: Outcomes that mean the message reached the provider.
DELIVERED_OUTCOMES = frozenset({Outcome.SENT, Outcome.SCHEDULED, Outcome.DUPLICATE})


@dataclass(frozen=True)
class MediaFile:
    """A rendered file to attach. ``url`` is its public URL where the provider
    only takes URLs (Zalo covers); ``path`` is the local file for uploads."""

    path: str
    mime: str
    url: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Message:
    """A frozen snapshot of one thing to send, built by the scheduler."""

    idempotency_key: str
    text: str
    title: str | None = None
    media: tuple[MediaFile, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    to: str | None = None  # a single recipient (SMS: E.164 number; Zalo ZNS: phone)
    delivery_id: int | None = None
    campaign_id: int | None = None
    scheduled_at: datetime | None = None  # aware, UTC
    not_after: datetime | None = None  # aware, UTC: too late past this

    def cost(self) -> float:
        """Pacing cost of this message (SMS adapters count segments)."""
        return 1.0


@dataclass
class SendResult:
    outcome: Outcome
    external_id: str | None = None
    provider_code: str | None = None  # the provider's own error code, as text
    http_status: int | None = None
    retry_after: float | None = None  # seconds, from Retry-After or the provider
    retry_at: datetime | None = None  # for DEFERRED: the next allowed time (aware, UTC)
    message: str = ""  # short technical reason (English), shown to operators
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def delivered(self) -> bool:
        return self.outcome in DELIVERED_OUTCOMES


@dataclass(frozen=True)
class ConfigField:
    """One entry of an adapter's declarative config spec."""

    name: str
    label: str  # Vietnamese label for the account form
    label_en: str = ""
    secret: bool = False  # stored encrypted, shown redacted, never logged
    required: bool = True
    type: str = "text"  # text | url | int | float | bool | choice | list | json
    choices: tuple[str, ...] = ()
    default: Any = None
    max_length: int | None = None
    help: str = ""


@dataclass
class Health:
    ok: bool
    message: str  # Vietnamese, for the account page
    detail: dict[str, Any] = field(default_factory=dict)


class CredentialStore(Protocol):
    """Where an adapter reads and persists its secrets.

    ``save()`` must make rotated tokens durable before it returns: Zalo refresh
    tokens are single-use, so losing the new pair locks the account out.
    """

    def get(self, name: str) -> str | None: ...

    def save(self, updates: Mapping[str, str]) -> None: ...


class DictCredentials:
    """A CredentialStore over a dict, with an optional persistence callback."""

    def __init__(
        self,
        values: Mapping[str, str] | None = None,
        on_save: Callable[[dict[str, str]], None] | None = None,
    ):
        self._values = dict(values or {})
        self._on_save = on_save
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(name)

    def save(self, updates: Mapping[str, str]) -> None:
        with self._lock:
            self._values.update(updates)
            snapshot = dict(self._values)
        if self._on_save is not None:
            self._on_save(snapshot)

    def as_dict(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)


class StepFailed(Exception):
    """Raised inside an adapter when one step of a send failed; carries the
    classified result that ``_send()`` returns."""

    def __init__(self, result: SendResult):
        super().__init__(result.message)
        self.result = result


def failure_health(result: SendResult, provider: str, reconnect: str) -> Health:
    """The account health shown when the provider's cheap check failed."""
    detail = {"outcome": result.outcome.value, "code": result.provider_code}
    if result.outcome is Outcome.AUTH_EXPIRED:
        return Health(False, reconnect, detail)
    code = result.provider_code or result.http_status
    return Health(False, f"{provider} từ chối kiểm tra kết nối (mã {code}).", detail)


class ConfigError(ValueError):
    """Invalid account config; ``fields`` maps field name -> Vietnamese message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens a second, ``burst`` at most."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.burst
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens now (going into debt if needed) and return how
        many seconds the caller must wait before using them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= cost
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self, cost: float = 1.0, sleep=time.sleep) -> float:
        wait = self.reserve(cost)
        if wait > 0:
            sleep(wait)
        return wait


_buckets: dict[tuple[str, str], TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(channel: str, account_key: str, rate: float, burst: float | None) -> TokenBucket:
    """One process-wide bucket per channel account, so one big SMS wave does not
    starve a Facebook post on another account."""
    key = (channel, account_key)
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = _buckets[key] = TokenBucket(rate, burst)
        return bucket


class PooledSession(requests.Session):
    """A ``requests.Session`` that reads the environment's proxy and CA-bundle
    settings (``HTTP(S)_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``…) once per
    origin and keeps them ``env_ttl`` seconds, instead of scanning every
    environment variable twice on every request (about a fifth of the CPU of a
    small POST). The result is what requests itself computes; a changed
    environment takes effect within ``env_ttl``. Calls with explicit
    ``proxies`` take requests' own path."""

    env_ttl = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._env_settings: dict[tuple, tuple[float, dict[str, Any]]] = {}

    def _from_env(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` (a reading of the environment), kept ``env_ttl`` seconds under ``key``."""
        now = time.monotonic()
        hit = self._env_settings.get(key)
        if hit is None or now - hit[0] > self.env_ttl:
            if len(self._env_settings) > 1024:
                self._env_settings.clear()
            hit = self._env_settings[key] = (now, compute())
        return hit[1]

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        key = ("settings", parts.scheme, parts.netloc, stream, verify, cert)
        try:
            hash(key)
        except TypeError:  # an unhashable setting: no caching
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._from_env(
            key, lambda: super(PooledSession, self).merge_environment_settings(url, {}, stream, verify, cert))
        return {**settings, "proxies": dict(settings["proxies"])}

    def _netrc_auth(self, url: str) -> Any:
        """requests' ``get_netrc_auth(url)`` (NETRC, ~/.netrc), kept per origin."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return self._from_env(("netrc", parts.scheme, parts.netloc),
                              lambda: requests.utils.get_netrc_auth(url))

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' own merge of request and session settings, built directly
        when only headers need merging (no cookies in the jar or the request,
        no params, session auth or session hooks): the same PreparedRequest
        for about a third of the CPU (requests merges every setting through
        generic helpers with slow runtime Protocol checks)."""
        if (request.params or self.params or self.auth or request.cookies or len(self.cookies)
                or any(self.hooks.values()) or not isinstance(request.url, str)):
            return super().prepare_request(request)
        headers: Any = requests.structures.CaseInsensitiveDict(self.headers)
        if request.headers:
            headers.update(request.headers)
            for name in [k for k, v in headers.items() if v is None]:
                del headers[name]
        auth = request.auth
        if self.trust_env and not auth:
            auth = self._netrc_auth(request.url)
        prepared = _PreparedRequest()
        prepared.prepare(
            method=str(request.method).upper(), url=request.url, files=request.files, data=request.data,
            json=request.json, headers=headers, auth=auth,
            cookies=requests.cookies.RequestsCookieJar(), hooks=request.hooks,
        )
        return prepared


class _PreparedRequest(requests.PreparedRequest):
    """A PreparedRequest whose URL preparation (parsing, IDNA, quoting) is
    remembered for URLs prepared before without parameters (an account's
    webhook URL is the same for every delivery)."""

    _urls: dict[str, str] = {}

    def prepare_url(self, url, params):  # type: ignore[no-untyped-def]
        if params or not isinstance(url, str):
            return super().prepare_url(url, params)
        done = self._urls.get(url)
        if done is None:
            super().prepare_url(url, params)
            if len(self._urls) > 4096:
                self._urls.clear()
            self._urls[url] = done = str(self.url)
        self.url = done


_shared_session: requests.Session | None = None


def shared_session() -> requests.Session:
    """The process-wide HTTP session (connection pooling across adapters)."""
    global _shared_session
    if _shared_session is None:
        s = PooledSession()
        adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        _shared_session = s
    return _shared_session


def short(body: Any, limit: int = 300) -> str:
    """A response body cut short for logs."""
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Adapter:
    """Base class of every channel adapter.

    Subclasses set the class attributes and implement ``_send()``; they may
    override ``check()``, ``preview()``, ``lookup()``, ``refresh_credentials()``
    and ``test_connection()``.
    """

    #: Registry name, as in ChannelAccount.channel ("facebook", "zalo", ...).
    name: ClassVar[str] = ""
    #: Human name shown in the UI.
    title: ClassVar[str] = ""
    #: Longest text the channel accepts (characters, NFC), or None.
    max_text_length: ClassVar[int | None] = None
    #: Media kinds it can carry: "image", "video", "audio", "document".
    media_kinds: ClassVar[frozenset[str]] = frozenset()
    #: Largest media file in bytes per kind.
    max_media_bytes: ClassVar[Mapping[str, int]] = {}
    #: Pacing: messages (or cost units) per second and burst, per account.
    rate_per_second: ClassVar[float] = 5.0
    burst: ClassVar[float | None] = None
    #: The provider can publish at a future time itself.
    supports_native_schedule: ClassVar[bool] = False
    #: The receiver de-duplicates by our idempotency key, so an ambiguous send
    #: may be retried safely.
    idempotent_receiver: ClassVar[bool] = False
    #: A send may take long (video upload, SMS wave): the scheduler renews leases.
    long_running: ClassVar[bool] = False
    #: Declarative account config (drives forms, validation, redaction).
    config_spec: ClassVar[tuple[ConfigField, ...]] = ()
    #: Options accepted in Message.options: name -> ConfigField.
    options_spec: ClassVar[tuple[ConfigField, ...]] = ()

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: CredentialStore | Mapping[str, str] | None = None,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        endpoints: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = self.validate_config(config)
        if credentials is None or isinstance(credentials, Mapping):
            credentials = DictCredentials(credentials or {})
        self.credentials: CredentialStore = credentials
        self.session = session or shared_session()
        self.timeout = timeout
        self.endpoints = dict(endpoints or {})
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep

    # -- config ---------------------------------------------------------------

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check non-secret config against the spec; raise ConfigError."""
        return validate_fields(
            [f for f in cls.config_spec if not f.secret], config, allow_extra=False
        )

    @classmethod
    def validate_secrets(cls, secrets: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
        spec = [f for f in cls.config_spec if f.secret]
        if partial:
            spec = [f for f in spec if f.name in secrets]
        return validate_fields(spec, secrets, allow_extra=False)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return validate_fields(cls.options_spec, options, allow_extra=False)

    @classmethod
    def redacted(cls, config: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
        """Config plus secrets as they may be shown: whether each secret is set
        (``SECRET_SET`` / ``SECRET_NOT_SET``), never any part of it."""
        out = dict(config)
        for f in cls.config_spec:
            if f.secret:
                out[f.name] = redact(secrets.get(f.name))
        return out

    def account_key(self) -> str:
        """Identity of the provider-side account (for pacing and idempotency)."""
        keys = [str(self.config.get(f.name, "")) for f in self.config_spec if not f.secret]
        return "|".join(keys)

    def now(self) -> datetime:
        return self._clock()

    # -- contract ----------------------------------------------------------------

    def check(self, message: Message) -> list[str]:
        """Problems that would make the send fail (Vietnamese, for the UI)."""
        problems: list[str] = []
        text = nfc(message.text)
        if self.max_text_length is not None and len(text) > self.max_text_length:
            problems.append(
                f"Nội dung dài {len(text)} ký tự, vượt giới hạn "
                f"{self.max_text_length} ký tự của {self.title or self.name}."
            )
        for media in message.media:
            kind = media.mime.split("/", 1)[0]
            if kind not in self.media_kinds:
                problems.append(f"{self.title or self.name} không nhận tệp loại {media.mime}.")
                continue
            limit = self.max_media_bytes.get(kind)
            if limit and media.size and media.size > limit:
                problems.append(
                    f"Tệp {media.path.rsplit('/', 1)[-1]} nặng {media.size:,} byte, "
                    f"vượt giới hạn {limit:,} byte."
                )
        try:
            self.validate_options(message.options)
        except ConfigError as exc:
            problems.extend(f"{k}: {v}" for k, v in exc.fields.items())
        return problems

    def warnings(self, message: Message) -> list[str]:
        """Notes for the preview that do not stop the send (Vietnamese): text that
        will be cut, a link card that will not show, a time that will wait...
        ``check()`` holds only what would make the send fail, because the app
        refuses a delivery whose ``check()`` is not empty."""
        return []

    def preview(self, message: Message) -> str:
        """HTML of how the message will look on the network (escaped text).

        The markup uses stable, simple class names (``preview``,
        ``preview-<channel>``, ``preview-title``, ``preview-text``,
        ``preview-media``, ``preview-warnings``/``warning``) so the app can
        style and embed it."""
        text = nfc(message.text)
        if self.max_text_length is not None and len(text) > self.max_text_length:
            text = text[: self.max_text_length]
        body = ""
        if message.title:
            body += f'<div class="preview-title">{html.escape(nfc(message.title))}</div>'
        body += preview_text(text)
        body += preview_media(message.media)
        return preview_shell(self.name, body, self.check(message) + self.warnings(message))

    def deliver(self, message: Message) -> SendResult:
        """Throttle, check the deadline, send, and classify. Never raises."""
        if message.not_after is not None and self.now() > message.not_after:
            return SendResult(Outcome.EXPIRED, message="deadline passed before sending")
        bucket = bucket_for(self.name, self.account_key(), self.rate_per_second, self.burst)
        wait = bucket.reserve(message.cost())
        if wait > 0:
            self._sleep(wait)
        if message.not_after is not None and self.now() > message.not_after:
            return SendResult(Outcome.EXPIRED, message="deadline passed while pacing")
        try:
            result = self._send(message)
        except requests.ConnectionError as exc:
            # Nothing reached the provider (refused, reset before the request
            # was read, DNS): safe to retry.
            result = SendResult(Outcome.TRANSIENT, message=f"connection error: {short(str(exc))}")
        except requests.ReadTimeout as exc:
            outcome = Outcome.TRANSIENT if self.idempotent_receiver else Outcome.AMBIGUOUS
            result = SendResult(outcome, message=f"read timeout after sending: {short(str(exc))}")
        except requests.Timeout as exc:  # connect timeout: nothing was sent
            result = SendResult(Outcome.TRANSIENT, message=f"timeout: {short(str(exc))}")
        except requests.RequestException as exc:
            result = SendResult(Outcome.TRANSIENT, message=f"http error: {short(str(exc))}")
        except Exception as exc:  # a bug in an adapter must not kill the dispatcher
            log.exception("adapter %s crashed", self.name)
            result = SendResult(
                Outcome.AMBIGUOUS, message=f"adapter error: {type(exc).__name__}: {short(str(exc))}"
            )
        return result

    def _send(self, message: Message) -> SendResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def lookup(self, message: Message, last: SendResult | None = None) -> SendResult | None:
        """Resolve an ambiguous send: SENT (with external_id) if the provider has
        it, PERMANENT/TRANSIENT if it surely does not, None if it cannot tell."""
        return None

    def refresh_credentials(self) -> bool:
        """Refresh expiring tokens; True if something was refreshed."""
        return False

    def cancel(self, external_id: str) -> SendResult:
        """Withdraw something already published or provider-scheduled.

        SENT means the provider confirmed the removal; PERMANENT that this
        channel cannot withdraw anything (the default)."""
        return SendResult(Outcome.PERMANENT, message=f"{self.name} cannot cancel a sent message")

    def test_connection(self) -> Health:
        """Call a cheap endpoint of the provider and say whether the account works."""
        return Health(True, "Không cần kiểm tra kết nối cho kênh này.")


#: what is shown of a secret: only whether it is set (pages translate these)
SECRET_SET = "đã đặt"
SECRET_NOT_SET = "chưa đặt"


def redact(value: Any) -> str:
    """A constant marker: no character, length or hint of the secret itself."""
    return SECRET_SET if value not in (None, "") else SECRET_NOT_SET


def validate_fields(
    spec: list[ConfigField] | tuple[ConfigField, ...],
    values: Mapping[str, Any],
    *,
    allow_extra: bool,
) -> dict[str, Any]:
    """Validate ``values`` against ``spec``; return the cleaned dict."""
    from urllib.parse import urlparse

    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    names = {f.name for f in spec}
    if not isinstance(values, Mapping):
        raise ConfigError({"_": "Cấu hình phải là một đối tượng JSON."})
    if not allow_extra:
        for key in values:
            if key not in names:
                errors[key] = "Trường không được hỗ trợ."
    for f in spec:
        raw = values.get(f.name)
        if raw is None or raw == "":
            if f.required and f.default is None:
                errors[f.name] = "Trường này là bắt buộc."
            elif f.default is not None:
                clean[f.name] = f.default
            continue
        try:
            if f.type in ("text", "url", "choice"):
                if not isinstance(raw, str):
                    raise ValueError("Giá trị phải là chuỗi ký tự.")
                value: Any = unicodedata.normalize("NFC", raw.strip())
                if f.max_length and len(value) > f.max_length:
                    raise ValueError(f"Tối đa {f.max_length} ký tự.")
                if f.type == "url":
                    parsed = urlparse(value)
                    if parsed.scheme not in ("http", "https") or not parsed.netloc:
                        raise ValueError("Địa chỉ URL phải bắt đầu bằng http:// hoặc https://.")
                if f.type == "choice" and value not in f.choices:
                    raise ValueError("Giá trị phải là một trong: " + ", ".join(f.choices) + ".")
            elif f.type == "int":
                if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                    raise ValueError("Giá trị phải là số nguyên.")
                try:
                    value = int(raw)
                except (TypeError, ValueError):
                    raise ValueError("Giá trị phải là số nguyên.") from None
            elif f.type == "float":
                try:
                    if isinstance(raw, bool):
                        raise ValueError
                    value = float(raw)
                except (TypeError, ValueError):
                    raise ValueError("Giá trị phải là số.") from None
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError("Giá trị phải là số.")
            elif f.type == "bool":
                if not isinstance(raw, bool):
                    raise ValueError("Giá trị phải là true hoặc false.")
                value = raw
            elif f.type == "list":
                if isinstance(raw, str):
                    raw = [p for p in (x.strip() for x in raw.split(",")) if p]
                if not isinstance(raw, list | tuple) or not all(
                    isinstance(x, str | int) and not isinstance(x, bool) for x in raw
                ):
                    raise ValueError("Giá trị phải là danh sách chuỗi ký tự.")
                value = [unicodedata.normalize("NFC", str(x).strip()) for x in raw]
                if f.max_length and len(value) > f.max_length:
                    raise ValueError(f"Tối đa {f.max_length} phần tử.")
            elif f.type == "json":
                if isinstance(raw, str):
                    try:
                        raw = json.loads(raw)
                    except json.JSONDecodeError:
                        raise ValueError("Giá trị phải là đối tượng JSON hợp lệ.") from None
                if not isinstance(raw, Mapping):
                    raise ValueError("Giá trị phải là đối tượng JSON.")
                value = dict(raw)
            else:
                value = raw
        except (TypeError, ValueError) as exc:
            msg = str(exc)
            errors[f.name] = (
                msg if msg and not msg.startswith("invalid literal") else ("Giá trị không hợp lệ.")
            )
            continue
        clean[f.name] = value
    if errors:
        raise ConfigError(errors)
    if allow_extra:
        for key, value in values.items():
            clean.setdefault(key, value)
    return clean


# -- shared helpers for adapters ---------------------------------------------------


def response_json(resp: requests.Response) -> Any:
    """The JSON body of a response, or None when it is not JSON."""
    try:
        return resp.json()
    except ValueError:
        return None


def http_result(resp: requests.Response, *, ok_id_key: str = "id") -> SendResult:
    """Classify a reply from a plain HTTP receiver (webhook, loudspeaker system).

    2xx -> SENT (external_id from a JSON ``id``); 409 -> DUPLICATE; 429 ->
    RATE_LIMITED; 408 and 5xx -> TRANSIENT (both honour Retry-After); 401/403
    -> AUTH_EXPIRED; any other status -> PERMANENT."""
    status = resp.status_code
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    body = response_json(resp)
    if 200 <= status < 300:
        external = body.get(ok_id_key) if isinstance(body, dict) else None
        return SendResult(
            Outcome.SENT,
            external_id=str(external) if external not in (None, "") else None,
            http_status=status,
        )
    text = short(resp.text, 200)
    if status == 409:
        external = body.get(ok_id_key) if isinstance(body, dict) else None
        return SendResult(
            Outcome.DUPLICATE,
            external_id=str(external) if external not in (None, "") else None,
            http_status=status,
            message="receiver reports a duplicate",
        )
    if status == 429:
        return SendResult(
            Outcome.RATE_LIMITED,
            http_status=status,
            retry_after=retry_after,
            message=f"HTTP 429: {text}",
        )
    if status == 408 or status >= 500:
        return SendResult(
            Outcome.TRANSIENT,
            http_status=status,
            retry_after=retry_after,
            message=f"HTTP {status}: {text}",
        )
    if status in (401, 403):
        return SendResult(
            Outcome.AUTH_EXPIRED, http_status=status, message=f"HTTP {status}: {text}"
        )
    return SendResult(Outcome.PERMANENT, http_status=status, message=f"HTTP {status}: {text}")


def media_kind(media: MediaFile) -> str:
    return media.mime.split("/", 1)[0].lower()


def media_size(media: MediaFile) -> int | None:
    if media.size is not None:
        return media.size
    try:
        return os.path.getsize(media.path)
    except OSError:
        return None


def fit_image(
    path: str,
    max_bytes: int,
    *,
    formats: Iterable[str] = ("JPEG", "PNG"),
    out_dir: str | None = None,
    max_side: int = 2048,
) -> str:
    """Return ``path`` if the image already fits (format and size), else the
    path of a recompressed JPEG copy that does (shrinking it step by step).

    The copy goes to ``out_dir`` (default: the system temp dir); the caller
    deletes it when done. Raises ValueError if the file is not an image or
    cannot be brought under ``max_bytes``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as probe:
            fmt = probe.format
            size = probe.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image: {os.path.basename(path)}") from exc
    allowed = {f.upper() for f in formats}
    if fmt in allowed and os.path.getsize(path) <= max_bytes and max(size) <= max_side:
        return path
    with Image.open(path) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode != "RGB":
            img = img.convert("RGB")
        scale = min(1.0, max_side / max(img.size))
        fd, out = tempfile.mkstemp(suffix=".jpg", prefix="fit-", dir=out_dir)
        os.close(fd)
        for _ in range(12):
            w = max(1, int(img.width * scale))
            h = max(1, int(img.height * scale))
            candidate = img if (w, h) == img.size else img.resize((w, h), Image.Resampling.LANCZOS)
            for quality in (88, 80, 72, 64):
                candidate.save(out, "JPEG", quality=quality, optimize=True)
                if os.path.getsize(out) <= max_bytes:
                    return out
            scale *= 0.75
        os.unlink(out)
    raise ValueError(f"cannot fit {os.path.basename(path)} under {max_bytes} bytes")


def media_src(media: MediaFile) -> str:
    """Where a preview shows a file from: its public URL, else its local path."""
    return media.url or media.path


def preview_text(text: str, css: str = "preview-text") -> str:
    paragraphs = nfc(text).split("\n")
    inner = "<br>".join(html.escape(p) for p in paragraphs)
    return f'<div class="{css}">{inner}</div>'


def preview_media(media: Iterable[MediaFile], css: str = "preview-media") -> str:
    items = []
    for m in media:
        src = html.escape(media_src(m), quote=True)
        kind = media_kind(m)
        name = html.escape(os.path.basename(m.path) or "tệp", quote=True)
        if kind == "image":
            items.append(f'<img class="preview-image" src="{src}" alt="{name}" loading="lazy">')
        elif kind == "video":
            items.append(
                f'<video class="preview-video" src="{src}" controls preload="none"></video>'
            )
        elif kind == "audio":
            items.append(
                f'<audio class="preview-audio" src="{src}" controls preload="none"></audio>'
            )
        else:
            items.append(f'<a class="preview-file" href="{src}">{name}</a>')
    if not items:
        return ""
    return f'<div class="{css} {css}-{len(items)}">' + "".join(items) + "</div>"


def preview_shell(channel: str, body: str, warnings: Iterable[str] = ()) -> str:
    """Wrap a channel's preview body with its warnings (all text escaped)."""
    warn = "".join(f'<li class="warning">{html.escape(w)}</li>' for w in warnings)
    warn_html = f'<ul class="preview-warnings">{warn}</ul>' if warn else ""
    ch = html.escape(channel, quote=True)
    return f'<div class="preview preview-{ch}">{body}{warn_html}</div>'
