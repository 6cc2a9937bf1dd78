"""Reading and writing config.toml: CometBFT files load unmodified (keys cometsync does not use are noticed
once and kept for a rewrite), and the files cometsync writes load in CometBFT too (same keys, Go duration
strings, extra `[cometsync]` table). Command-line flags are applied before any value is checked.
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cometsync.config.duration import Duration
from cometsync.config.fields import ConfigError, coerce, doc_of, from_text, settings_of
from cometsync.config.model import SECTIONS, Config, setting_for

CONFIG_FILE_MODE = 0o644
_log = logging.getLogger(__name__)
Notice = Callable[[str], None]


def load_config(
    home: str | os.PathLike[str],
    notice: Notice | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read `<home>/config/config.toml`, with `overrides` (command-line flags: "p2p.laddr" -> value)
    applied before any value is checked, so a flag replaces a file value that alone would be refused.
    Keys cometsync does not use are reported once through `notice` (default: a logging warning) and kept;
    bad values raise ConfigError.
    """
    config = Config(Path(home))
    path = config.config_path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (run `cometsync init --home {home}` first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    config = parse_config(text, Path(home), source=str(path), overrides=overrides)
    if config.ignored_keys:
        (notice or _log.warning)(ignored_keys_notice(str(path), config.ignored_keys))
    return config


def parse_config(
    text: str, home: Path, source: str = "config.toml", overrides: Mapping[str, Any] | None = None
) -> Config:
    """A Config from config.toml text and flag `overrides`; `source` names the file in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    flags = _flag_values(overrides or {})
    config = Config(home)
    tables = [attr for attr in SECTIONS if attr != "base"]
    top_level = {name: value for name, value in document.items() if name not in tables}
    ignored: list[str] = []
    for attr in SECTIONS:
        values = top_level if attr == "base" else document.get(attr, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {attr}: expected a [{attr}] table, got {values!r}")
        section = getattr(config, attr)
        label = "" if attr == "base" else f"[{attr}] "
        file_values = {name: value for name, value in values.items() if name not in flags.get(attr, {})}
        updates, unknown = _section_values(file_values, type(section), f"{source}: {label}")
        updates.update(flags.get(attr, {}))
        setattr(config, attr, replace(section, **updates))
        if unknown:
            config.unknown[attr] = {name: values[name] for name in unknown}
        if attr == "base":
            ignored.extend(f"[{name}]" if isinstance(values[name], dict) else name for name in unknown)
        else:
            ignored.extend(f"{attr}.{name}" for name in unknown)
    config.ignored_keys = tuple(ignored)
    return config


def _flag_values(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Checked flag values by section attribute; errors name the flag's key."""
    flags: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section_attr, item, kind = setting_for(key)
        try:
            parsed = from_text(value, kind) if isinstance(value, str) else value
            flags.setdefault(section_attr, {})[item.name] = coerce(parsed, kind, item)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    return flags


def _section_values(
    values: dict[str, Any], section_type: type, where: str
) -> tuple[dict[str, Any], list[str]]:
    known = {item.name: (item, kind) for item, kind in settings_of(section_type)}
    updates: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            continue
        item, kind = known[name]
        try:
            updates[name] = coerce(value, kind, item)
        except ValueError as exc:
            raise ConfigError(f"{where}{name}: {exc}") from None
    return updates, [name for name in values if name not in known]


def ignored_keys_notice(source: str, keys: tuple[str, ...]) -> str:
    return f"{source}: ignoring {len(keys)} setting(s) cometsync does not use: {', '.join(keys)}"


def render_config(config: Config) -> str:
    """config.toml text for `config`: every key with its comment, in CometBFT's section order; keys
    cometsync does not use (kept from a loaded file) follow their section, unknown tables come last."""
    lines = [
        "# This is a TOML config file, written by cometsync in CometBFT v0.38's format.",
        "# For more information, see https://github.com/toml-lang/toml",
        "",
        '# NOTE: Any path below can be absolute (e.g. "/var/myawesomeapp/data") or',
        '# relative to the home directory (e.g. "data").',
    ]
    unknown_tables: dict[str, dict[str, Any]] = {}
    for attr in SECTIONS:
        section = getattr(config, attr)
        lines.append("")
        if attr != "base":
            title = (type(section).__doc__ or "").splitlines()[0]
            lines += ["#" * 55, f"###  {title}", "#" * 55, f"[{attr}]", ""]
        for item, _ in settings_of(type(section)):
            doc = doc_of(item)
            lines += [f"# {line}" for line in doc.splitlines()]
            lines.append(f"{item.name} = {toml_value(getattr(section, item.name))}")
            if doc:
                lines.append("")
        extra = config.unknown.get(attr, {})
        tables = {name: value for name, value in extra.items() if isinstance(value, dict)}
        if attr == "base":
            unknown_tables.update(tables)
        else:
            unknown_tables.update({f"{attr}.{name}": value for name, value in tables.items()})
        lines += _key_lines({name: value for name, value in extra.items() if name not in tables})
    for name, table in unknown_tables.items():
        lines += _table_lines(name, table)
    return "\n".join(line for line in _squeeze_blank(lines)) + "\n"


def _key_lines(values: Mapping[str, Any]) -> list[str]:
    return [f"{_toml_key(name)} = {toml_value(value)}" for name, value in values.items()]


def _table_lines(name: str, table: Mapping[str, Any]) -> list[str]:
    """`[name]` with its scalar keys, then its sub-tables as `[name.sub]`."""
    tables = {key: value for key, value in table.items() if isinstance(value, dict)}
    lines = ["", f"[{name}]", *_key_lines({k: v for k, v in table.items() if k not in tables})]
    for key, value in tables.items():
        lines += _table_lines(f"{name}.{_toml_key(key)}", value)
    return lines


def _toml_key(name: str) -> str:
    bare = name and all(char.isascii() and (char.isalnum() or char in "-_") for char in name)
    return name if bare else toml_string(name)


def _squeeze_blank(lines: list[str]) -> list[str]:
    squeezed: list[str] = []
    for line in lines:
        if line or (squeezed and squeezed[-1]):
            squeezed.append(line)
    while squeezed and not squeezed[-1]:
        squeezed.pop()
    return squeezed


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write config.toml (mode 0644, replaced atomically); returns the path written."""
    target = path or config.config_path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), CONFIG_FILE_MODE)
            out.write(render_config(config))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_value(value: object) -> str:
    """A value as TOML: durations as Go strings; what tomllib reads (arrays, inline tables, dates) as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Duration):
        return toml_string(str(value))
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"cannot write {value!r} to TOML")


def toml_string(text: str) -> str:
    escaped = "".join(
        _ESCAPES.get(char) or (f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in text
    )
    return f'"{escaped}"'
