"""Typed access to one table of config.toml, with errors that name the key and the bad value.

Owns: `ConfigError` and `Table` (type checks, ranges, the record of keys read so unknown keys
are refused). Does not own: any setting (config.py, config_billing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting is missing, of the wrong type or out of range; the message names the key."""


class Table:
    """Typed access to one TOML table, remembering the dotted path for error messages."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self._path = path
        self._seen: set[str] = set()

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...]) -> Any:
        self._seen.add(key)
        value = self._data.get(key, default)
        # bool is an int subclass; a port of `true` is a mistake, not 1.
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"{self._path}.{key}: expected {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise ConfigError(f"{self._path}.{key}: expected {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        value: str = self._get(key, default, str)
        return value

    @property
    def path(self) -> str:
        return self._path

    def boolean(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, default, bool)
        return value

    def integer(self, key: str, default: int, *, lo: int, hi: int) -> int:
        value: int = self._get(key, default, int)
        if not lo <= value <= hi:
            raise ConfigError(f"{self._path}.{key}: {value!r} is outside {lo}..{hi}")
        return value

    def number(self, key: str, default: float, *, lo: float) -> float:
        value = self._get(key, default, (int, float))
        if value < lo:
            raise ConfigError(f"{self._path}.{key}: {value!r} is below {lo}")
        return float(value)

    def text_list(self, key: str, default: list[str]) -> tuple[str, ...]:
        value = self._get(key, default, list)
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self._path}.{key}: expected a list of strings, got {value!r}")
        return tuple(value)

    def text_map(self, key: str) -> dict[str, str]:
        value = self._get(key, {}, dict)
        if not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{self._path}.{key}: expected strings as values, got {value!r}")
        return dict(value)

    def table(self, key: str) -> Table:
        sub = self._get(key, {}, dict)
        return Table(sub, f"{self._path}.{key}" if self._path else key)

    def check_unknown(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            where = f"[{self._path}]" if self._path else "top level"
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    if isinstance(kind, tuple):
        return "a number"
    return names.get(kind, kind.__name__)
