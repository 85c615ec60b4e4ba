"""Where tether keeps its state and where its ledger is: config.toml read, the URL resolved.

``tether usage`` needs nothing else, so this is all it reads of the settings:
``tether.config`` (every section declared as dataclasses and checked, ~40 ms
to import and load) is left to the commands that use more. Written with
``os.path`` and no ``typing`` (each costs the report milliseconds of start-up);
``config.load`` builds on these functions, so there is one way to read each.
"""

import os

from tether.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re, which it loads)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

CONFIG_FILE = "config.toml"


def home_dir(environ: "Mapping[str, str]" = os.environ) -> str:
    """$TETHER_HOME (default ~/.tether), made absolute."""
    home = os.path.expanduser(environ.get("TETHER_HOME") or "~/.tether")
    return home if os.path.isabs(home) else os.path.join(os.getcwd(), home)


def read_config(path: str) -> "dict[str, Any]":
    """config.toml's tables, {} when there is no file; ConfigError if unreadable or not TOML."""
    data = _config_bytes(path)
    return {} if data is None else _parse(path, data)


def _config_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _parse(path: str, data: bytes) -> "dict[str, Any]":
    import tomllib  # loaded only when there is a config file to read

    try:
        return tomllib.loads(data.decode())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def ledger_url(home: str, path: str, raw: "Mapping[str, Any]", environ: "Mapping[str, str]") -> str:
    """$TETHER_DATABASE_URL, else ``[database] url`` of the file at ``path`` read as ``raw``,
    else SQLite in ``home``."""
    url = environ.get("TETHER_DATABASE_URL")
    if url:
        return url
    database = raw.get("database", {})
    if not isinstance(database, dict):
        raise ConfigError(f"{path}: [database] must be a table")
    return (
        string_setting(path, "database.url", database.get("url", ""))
        or f"sqlite:///{os.path.join(home, 'tether.db')}"
    )


def string_setting(path: str | os.PathLike[str], key: str, value: "Any") -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string, not {value!r}")
    return value


def database_url(environ: "Mapping[str, str]" = os.environ) -> str:
    """The ledger's URL, reading of the settings only what gives it (``tether usage``).

    config.toml is parsed only when it may name the ledger: parsing loads tomllib
    and re, ~10 ms, a third of the report's process. A file without the word
    ``database`` (nor an escape, with which a quoted key could spell it) cannot.
    """
    home = home_dir(environ)
    path = os.path.join(home, CONFIG_FILE)
    data = None if environ.get("TETHER_DATABASE_URL") else _config_bytes(path)
    raw: dict[str, Any] = {}
    if data is not None and any(word in data for word in (b"database", b"\\u", b"\\U")):
        raw = _parse(path, data)
    return ledger_url(home, path, raw, environ)
