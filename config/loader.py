"""Reading the config file: TOML -> secret references resolved -> pydantic -> logical checks.

Every problem is collected and reported at once as ``key.path: message (line N)``
in a :class:`~connectors.errors.ConfigError` (exit code 78). Secret values never
appear in an error: pydantic is told to hide inputs, and references are
resolved only after the shape is known to be right.

Secret references, accepted for any string in a connector table and for
``daemon.webhooks.secret``:

- ``env:NAME``         the environment variable NAME
- ``file:/path``       the file's content (trailing newline dropped)
- ``credential:NAME``  ``$CREDENTIALS_DIRECTORY/NAME`` (systemd ``LoadCredential=``)

A secret setting (a connector field of type ``SecretStr``, or ``daemon.webhooks.secret``)
whose value starts with a word and a colon (``vault:...``, ``Env:...``) names a
reference scheme; one that is not among the three above is a config error rather
than a value silently taken as the secret itself. A literal secret that happens to
start that way is given through ``env:`` or ``file:`` instead. Every secret, inline
or resolved, is registered with :mod:`connectors.scrub` as soon as it is read.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr, ValidationError

from config.cron import validate_crontab
from config.models import (
    AppConfig,
    DaemonConfig,
    HttpListenerConfig,
    PairConfig,
    ScheduleConfig,
    WebhooksConfig,
)
from connectors import registry
from connectors.base import Connector, ConnectorSettings
from connectors.errors import ConfigError
from connectors.model import Entity
from connectors.scrub import register

SECRET_PREFIXES = ("env:", "file:", "credential:")
# For keys the connector's settings model does not know (they fail validation anyway).
SECRET_KEY = re.compile(r"(api_?key|token|password|secret|rest_key|credential)", re.IGNORECASE)
# What looks like a reference scheme: a word (a letter first) right before a colon.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_.+-]*):")
DEFAULT_PATHS = (Path("/etc/cloze-syncd/config.toml"),)
M = TypeVar("M", bound=BaseModel)

Where = Callable[[tuple[Any, ...], str], str]
"""``where(key_path, message)`` -> ``key.path: message (line N)``."""

PairCheck = Callable[[str, PairConfig, Mapping[str, ConnectorSettings], Mapping[str, type[Connector]], Where], list[str]]
"""A further check of one valid pair, given its name, its config, its two sides' settings and
connector classes, and ``where`` to place a problem: the application's checks that need more
than the config (the field mapping against what the connectors hold, :mod:`syncd.check`)."""


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with its connector settings built and its secrets resolved."""

    app: AppConfig
    path: Path
    secrets: tuple[str, ...]
    state_path: Path  # the SQLite file (also where a PostgreSQL deployment keeps its local files)
    settings: Mapping[str, Mapping[str, ConnectorSettings]]  # pair -> "cloze" | "external" -> settings
    connectors: Mapping[str, Mapping[str, type[Connector]]]  # pair -> side -> class
    warnings: tuple[str, ...] = ()
    webhook_secret: str | None = None
    state_url: str | None = None  # the PostgreSQL URL from [state] url, resolved; never shown (a password)

    @property
    def state_location(self) -> Path | str:
        """Where the state database is: the PostgreSQL URL if one is set, else the SQLite file."""
        return self.state_url if self.state_url is not None else self.state_path

    def pair(self, name: str) -> PairConfig:
        if name not in self.app.pairs:
            raise ConfigError(f"no pair named {name!r}", hint=f"pairs in {self.path}: {', '.join(self.app.pairs)}")
        return self.app.pairs[name]


def find_config_path(explicit: Path | None = None) -> Path:
    """--config > $SYNCD_CONFIG > $CONFIGURATION_DIRECTORY/config.toml > /etc/cloze-syncd/config.toml."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get("SYNCD_CONFIG"):
        return Path(os.environ["SYNCD_CONFIG"])
    if os.environ.get("CONFIGURATION_DIRECTORY"):
        return Path(os.environ["CONFIGURATION_DIRECTORY"].split(":")[0]) / "config.toml"
    return DEFAULT_PATHS[0]


def resolve_secret(ref: str) -> str:
    """The value a secret reference names; a plain string is returned as it is."""
    if ref.startswith("env:"):
        name = ref[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if ref.startswith("file:"):
        path = Path(ref[5:])
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    if ref.startswith("credential:"):
        name = ref[len("credential:") :]
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"credential name {name!r} may use only letters, digits, '.', '-' and '_'")
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(
                f"credential {name!r}: $CREDENTIALS_DIRECTORY is not set "
                f"(run under systemd with LoadCredential={name}:/path, or use env:/file:)"
            )
        try:
            return (Path(directory) / name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError:
            raise ValueError(f"credential {name!r} not found in $CREDENTIALS_DIRECTORY; add LoadCredential={name}:/path") from None
    return ref


def secret_keys(settings: type[BaseModel]) -> frozenset[str]:
    """The keys a connector's settings declare as secrets (typed ``SecretStr``, optional or not).

    The declaration, not the key's name, decides: ``token_kind`` names a token but holds none.
    """

    def is_secret(annotation: Any) -> bool:
        return annotation is SecretStr or any(is_secret(a) for a in get_args(annotation))

    return frozenset(name for name, f in settings.model_fields.items() if is_secret(f.annotation))


def unknown_scheme(value: str) -> str | None:
    """The problem with a secret value that names a reference scheme cloze-syncd does not know, if any."""
    match = _SCHEME.match(value)
    if match is None or value.startswith(SECRET_PREFIXES):
        return None
    return (f"unknown secret reference scheme {match.group(1) + ':'!r}; the supported references are "
            "env:NAME, file:/path and credential:NAME (give a literal secret that starts with a word and a "
            "colon through env: or file:)")


def is_secret_key(model: type[BaseModel], key: str) -> bool:
    """Whether ``key`` of a connector table holds a secret: by the settings' declaration, or, for a
    key the settings do not know (it fails validation anyway), by its name."""
    if key in model.model_fields:
        return key in secret_keys(model)
    return bool(SECRET_KEY.search(key))


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a dotted key path in the TOML text."""
    lines = text.splitlines()
    parts = [str(p) for p in loc]
    for cut in range(len(parts), 0, -1):
        table, key = parts[: cut - 1], parts[cut - 1]
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(p) for p in table) + r"\s*\]") if table else None
        in_table = header is None
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if header is not None and header.match(line):
                in_table = True
                continue
            if header is not None and in_table and stripped.startswith("["):
                in_table = False
            if in_table and re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
                return number
        if table and header is not None:
            for number, line in enumerate(lines, 1):
                if re.match(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(p) for p in parts[:cut]) + r"\s*\]", line):
                    return number
    return None


def _fmt(text: str, loc: tuple[Any, ...], message: str) -> str:
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(text, loc)
    return f"{path}: {message}" + (f" (line {line})" if line else "")


def _validation_problems(
    text: str,
    exc: ValidationError,
    prefix: tuple[Any, ...] = (),
    *,
    model: type[BaseModel] | None = None,
    skip_missing: Collection[str] = (),
) -> list[str]:
    """Each error as ``key.path: message (line N)``; ``skip_missing``: keys already reported (a bad reference)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        # "[key]" marks an error in a table's name (an unknown entity kind): the table is the place.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
        if err["type"] == "missing" and len(loc) == 1 and loc[0] in skip_missing:
            continue
        message = err["msg"]
        if err["type"] == "value_error" and "error" in err.get("ctx", {}):
            message = str(err["ctx"]["error"])  # our own validator's words, without pydantic's "Value error, "
        if err["type"] == "extra_forbidden" and model is not None and loc:
            close = difflib.get_close_matches(str(loc[-1]), _keys_at(model, loc[:-1]), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        out.append(_fmt(text, prefix + loc, message))
    return out


def _valid_or_none(model: type[M], data: Any) -> M | None:
    """``data`` as ``model``, or None when invalid (the whole-file check has reported why)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at ``loc`` (inside ``model``) accepts; empty when it is not a fixed table."""
    current: Any = model
    parts = list(loc)
    while True:
        options = [a for a in get_args(current) if a is not type(None)] if get_origin(current) is not dict else []
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not parts:
                return list(current.model_fields)
            field = current.model_fields.get(str(parts.pop(0)))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is dict and parts:
            parts.pop(0)  # a named table such as [pairs.NAME]
            current = get_args(current)[1]
        elif len(options) == 1:  # Optional[X]
            current = options[0]
        else:
            return []


def _by_line(problems: list[str]) -> list[str]:
    """Problems in file order (those without a line last, in the order found)."""

    def line(problem: str) -> int:
        found = re.search(r"\(line (\d+)\)$", problem)
        return int(found.group(1)) if found else 1 << 30

    return sorted(problems, key=line)


def load_config(path: Path, *, resolve_secrets: bool = True, pair_checks: Sequence[PairCheck] = ()) -> LoadedConfig:
    """Read and validate ``path``; raise ConfigError listing every problem.

    ``resolve_secrets=False`` leaves secret references unread, for commands that only read
    the state database (``status``, ``conflicts list``, ``errors list``): they run without
    the API keys, and the connector settings they get hold the references, not secrets.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found", hint="create it (see `syncd config example`) or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start} cannot be read)") from None
    return load_config_text(text, path, resolve_secrets=resolve_secrets, pair_checks=pair_checks)


def load_config_text(text: str, path: Path, *, resolve_secrets: bool = True,
                     pair_checks: Sequence[PairCheck] = ()) -> LoadedConfig:
    """Validate ``text`` in one pass: the schema, every connector table, the crons and the references.

    A schema error does not stop the other checks, so one run of ``syncd config check``
    lists every problem, sorted by line. ``pair_checks`` run on each pair whose shape and
    connector tables are valid, and their problems join the others.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML", problems=[str(exc)]) from None
    problems: list[str] = []
    app: AppConfig | None
    try:
        app = AppConfig.model_validate(raw)
    except ValidationError as exc:
        app = None
        problems.extend(_validation_problems(text, exc, model=AppConfig))

    warnings: list[str] = []
    secrets: list[str] = []
    settings: dict[str, dict[str, ConnectorSettings]] = {}
    classes: dict[str, dict[str, type[Connector]]] = {}
    literal_secrets = False

    raw_pairs = raw.get("pairs")
    for pair_name, pair_raw in (raw_pairs.items() if isinstance(raw_pairs, dict) else ()):
        if not isinstance(pair_raw, dict):
            continue
        settings[pair_name], classes[pair_name] = {}, {}
        for side in ("cloze", "external"):
            table = pair_raw.get(side)
            if not isinstance(table, dict):
                continue
            loc = ("pairs", pair_name, side)
            table = dict(table)
            connector_name = table.pop("connector", "cloze" if side == "cloze" else None)
            if side == "cloze" and connector_name != "cloze":
                problems.append(_fmt(text, loc + ("connector",), "the Cloze side always uses the 'cloze' connector"))
                continue
            if not isinstance(connector_name, str):
                continue  # the schema check reports a missing connector name
            try:
                cls = registry.load(connector_name)
            except ConfigError as exc:
                problems.append(_fmt(text, loc + ("connector",), str(exc)))
                continue
            resolved: dict[str, Any] = {}
            unresolved: set[str] = set()
            for key, value in table.items():
                secret_key = is_secret_key(cls.Settings, key)
                if secret_key and isinstance(value, str) and (problem := unknown_scheme(value)):
                    problems.append(_fmt(text, loc + (key,), problem))
                    continue
                # An unknown key is left for the model to name (with "did you mean"), not resolved.
                if isinstance(value, str) and value.startswith(SECRET_PREFIXES) and key in cls.Settings.model_fields:
                    if not resolve_secrets:
                        resolved[key] = value
                        continue
                    try:
                        resolved[key] = resolve_secret(value)
                    except ValueError as exc:
                        problems.append(_fmt(text, loc + (key,), str(exc)))
                        unresolved.add(key)
                        continue
                    secrets.append(resolved[key])
                else:
                    resolved[key] = value
                    if isinstance(value, str) and secret_key and value:
                        literal_secrets = True
                        secrets.append(value)
            try:
                settings[pair_name][side] = cls.Settings.model_validate(resolved)
                classes[pair_name][side] = cls
            except ValidationError as exc:
                problems.extend(_validation_problems(text, exc, loc, model=cls.Settings, skip_missing=unresolved))
        schedule: dict[str, Any] = pair_raw.get("schedule") or {}
        if not isinstance(schedule, dict):
            schedule = {}
        cron = schedule.get("reconcile_cron", ScheduleConfig.model_fields["reconcile_cron"].default)
        timezone = schedule.get("timezone", ScheduleConfig.model_fields["timezone"].default)
        if isinstance(cron, str) and cron and isinstance(timezone, str):
            try:
                validate_crontab(cron, timezone)
            except Exception as exc:  # noqa: BLE001 - APScheduler raises ValueError, zoneinfo errors of its own
                problems.append(_fmt(text, ("pairs", pair_name, "schedule", "reconcile_cron"), f"invalid schedule: {exc}"))
        pair = app.pairs.get(pair_name) if app is not None else None
        if pair is not None and len(classes[pair_name]) == 2:
            for check in pair_checks:
                problems.extend(check(pair_name, pair, settings[pair_name], classes[pair_name], partial(_fmt, text)))

    # The daemon table is checked even when another part of the file is invalid.
    daemon = app.daemon if app is not None else _valid_or_none(DaemonConfig, raw.get("daemon", {}))
    webhook_secret = None
    hooks = daemon.webhooks if daemon is not None else WebhooksConfig()
    if hooks.enabled and resolve_secrets:
        if not hooks.secret:
            problems.append(_fmt(text, ("daemon", "webhooks", "secret"), "webhooks are enabled but no secret is set"))
        elif problem := unknown_scheme(hooks.secret):
            problems.append(_fmt(text, ("daemon", "webhooks", "secret"), problem))
        else:
            try:
                webhook_secret = resolve_secret(hooks.secret)
                secrets.append(webhook_secret)
                if not hooks.secret.startswith(SECRET_PREFIXES):
                    literal_secrets = True
            except ValueError as exc:
                problems.append(_fmt(text, ("daemon", "webhooks", "secret"), str(exc)))
    state_url = None
    state_raw = raw.get("state")
    url_ref = state_raw.get("url") if isinstance(state_raw, dict) else None
    if isinstance(url_ref, str) and url_ref:
        state_url, problem = _state_url(url_ref)
        if problem:
            problems.append(_fmt(text, ("state", "url"), problem))
        elif state_url is not None:
            secrets.append(state_url)
            password = urlsplit(state_url).password
            if password:
                secrets.append(unquote(password))
    http = daemon.http if daemon is not None else HttpListenerConfig(enabled=False)
    if http.enabled and not http.allow_non_loopback:
        try:
            if not ipaddress.ip_address(http.address).is_loopback:
                problems.append(
                    _fmt(text, ("daemon", "http", "address"), "not a loopback address; set allow_non_loopback = true to expose it")
                )
        except ValueError:
            if http.address != "localhost":
                problems.append(_fmt(text, ("daemon", "http", "address"), "expected an IP address"))

    if literal_secrets and path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(
                f"{path} holds secrets inline and is readable by group or others; "
                "use env:/file:/credential: references or chmod 600"
            )
    register(*secrets)
    if problems or app is None:
        raise ConfigError(f"{path}: invalid configuration", problems=_by_line(problems))
    return LoadedConfig(
        app=app,
        path=path,
        secrets=tuple(s for s in secrets if s),
        state_path=state_path(app),
        settings=settings,
        connectors=classes,
        warnings=tuple(warnings),
        webhook_secret=webhook_secret,
        state_url=state_url,
    )


# A PostgreSQL URL, as state.backend opens it (config reads no state module, so it says so itself).
_POSTGRES_URL = re.compile(r"^(postgresql(\+psycopg)?|postgres)://", re.IGNORECASE)


def is_database_url(value: str) -> bool:
    return bool(_POSTGRES_URL.match(value))


def _state_url(ref: str) -> tuple[str | None, str | None]:
    """``[state] url`` resolved (a reference read), or the problem with it."""
    expected = "expected a PostgreSQL URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    if is_database_url(ref):
        return ref, None
    if "://" in ref:
        return None, expected
    if problem := unknown_scheme(ref):
        return None, problem
    try:
        url = resolve_secret(ref)
    except ValueError as exc:
        return None, str(exc)
    return (url, None) if is_database_url(url) else (None, expected)


def state_path(app: AppConfig) -> Path:
    if app.state.path is not None:
        return Path(app.state.path)
    directory = os.environ.get("STATE_DIRECTORY")
    if directory:
        return Path(directory.split(":")[0]) / "state.db"
    return Path("cloze-syncd-state.db")


def enabled_entities(loaded: LoadedConfig, pair_name: str) -> list[Entity]:
    """Entities of the pair that are enabled (whether both connectors support them is checked at run time)."""
    pair = loaded.pair(pair_name)
    return [e for e, ecfg in pair.entities.items() if ecfg.enabled]
