"""The interactive console: ``dj`` (DataJoint 2.3.5's command) and ``joinflow shell``.

    dj --host 127.0.0.1:3306 --user root --password '' -s lab:lab
    >>> lab.Subject.to_dicts()

A Python console with ``dj`` (joinflow) imported, the connection settings from the command line
applied to ``dj.config``, and each ``-s schema:alias`` loaded as a virtual module named
``alias``. Lines piped to its standard input run one by one, as typed (``echo 'print(lab.X)' |
dj -s lab:lab``); at the end of the input the console exits with status 0, or 1 if a line
raised an exception (DataJoint's console always ends with 0).
"""
from __future__ import annotations

import argparse
import code
import sys
from collections.abc import Sequence
from typing import Any

EXAMPLE = "example: dj -s my_lab:lab --host localhost:3306"


def add_connection_arguments(parser: argparse.ArgumentParser, *, schemas: bool = True) -> None:
    """The options of the console (shared by ``dj`` and ``joinflow shell``; ``joinflow web``
    takes them without ``-s``)."""
    parser.add_argument("-u", "--user", default=None, help="database user (default: from config)")
    parser.add_argument("-p", "--password", default=None,
                        help="database password (default: from config)")
    parser.add_argument("--host", default=None,
                        help="database host, host:port allowed (default: from config)")
    parser.add_argument("--backend", default=None, choices=("mysql", "postgresql", "sqlite"),
                        help="database backend (joinflow; default: from config)")
    if schemas:
        parser.add_argument("-s", "--schemas", nargs="+", default=None, metavar="DB:ALIAS",
                            help="load schemas as virtual modules, each as schema_name:alias")


def build_dj_parser() -> argparse.ArgumentParser:
    import joinflow
    parser = argparse.ArgumentParser(
        prog="dj", epilog=EXAMPLE,
        description="joinflow's interactive console (DataJoint's `dj`): a Python REPL with "
                    "`dj` (joinflow) loaded.")
    parser.add_argument("-V", "--version", action="version",
                        version=f"{joinflow.__name__} {joinflow.__version__}")
    add_connection_arguments(parser)
    return parser


def parse_schema_args(values: Sequence[str] | None) -> list[tuple[str, str]]:
    """``["lab:l", ...]`` as ``[("lab", "l"), ...]``; ValueError naming a malformed entry."""
    pairs = []
    for value in values or ():
        schema, sep, alias = value.partition(":")
        if not sep or not schema or not alias.isidentifier():
            raise ValueError(f"invalid schema argument {value!r}: write schema_name:alias "
                             "(the alias a Python name)")
        pairs.append((schema, alias))
    return pairs


def apply_connection_arguments(config: Any, args: argparse.Namespace) -> None:
    """Put the command line's connection settings into ``config``."""
    for key, value in (("user", args.user), ("password", args.password),
                       ("host", args.host), ("backend", args.backend)):
        if value is not None:
            config[f"database.{key}"] = value


def banner(version: str, modules: dict[str, Any]) -> str:
    lines = [f"joinflow {version} console (DataJoint-compatible: `dj` is joinflow)",
             "Type 'dj.' and press Tab for available functions."]
    if modules:
        lines += ["", "Loaded schemas:"]
        lines += [f"  {alias} -> {mod.schema.database}" for alias, mod in modules.items()]
    return "\n".join(lines) + "\n"


def start(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Configure, load the schemas and run the console; returns the exit status. A problem
    before the console starts (bad setting, no connection) is one line on stderr, status 1."""
    import joinflow
    try:
        pairs = parse_schema_args(args.schemas)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        apply_connection_arguments(joinflow.config, args)
        modules = {alias: joinflow.VirtualModule(alias, schema) for schema, alias in pairs}
    except joinflow.errors.JoinflowError as exc:  # messages never carry the password
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    namespace: dict[str, Any] = {"__name__": "__console__", "__doc__": None, "dj": joinflow,
                                 **modules}
    console = Console(namespace)
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  (line editing and history, where available)
        except ImportError:  # pragma: no cover - Windows
            pass
    console.interact(banner(joinflow.__version__, modules), exitmsg="")
    return 1 if console.failed else 0


class Console(code.InteractiveConsole):
    """The standard console, remembering whether any input raised an exception."""

    failed = False

    def showtraceback(self) -> None:
        self.failed = True
        super().showtraceback()

    def showsyntaxerror(self, filename: str | None = None, **kwargs: Any) -> None:
        self.failed = True
        super().showsyntaxerror(filename, **kwargs)


def cli(args: Sequence[str] | None = None) -> None:
    """The ``dj`` command (DataJoint's ``dj.cli``): ``args`` as on the command line (default
    ``sys.argv[1:]``). Always ends with ``SystemExit``: 0 when the console's input ends (or for
    ``-V``/``--help``), 1 when it could not start, 2 for a malformed command line."""
    parser = build_dj_parser()
    parsed = parser.parse_args(None if args is None else list(args))
    raise SystemExit(start(parsed, parser))
