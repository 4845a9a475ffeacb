"""joinflow: relational data pipelines with an Object-Augmented Schema.

DataJoint-compatible: ``import joinflow as dj``."""
from __future__ import annotations

from .settings import Config, make_global_config

config: Config = make_global_config()

from . import errors  # noqa: E402
from .codecs import builtin as _builtin_codecs  # noqa: E402,F401  (registers built-ins)
from .codecs.base import AttributeAdapter, Codec, CodecContext, get_codec, list_codecs  # noqa: E402
from .codecs.builtin import AttachFileType  # noqa: E402
from .condition import AndList, Not, Top  # noqa: E402
from .connection import Connection, conn  # noqa: E402
from .instance import Instance  # noqa: E402
from .errors import *  # noqa: E402,F401,F403
from .expression import QueryExpression, U  # noqa: E402
from .schema import (Schema, VirtualModule, create_virtual_module, list_schemas,  # noqa: E402
                     virtual_schema)
from .table import FreeTable, Table, ValidationResult  # noqa: E402
from .user_tables import (Compute, Computed, Entry, Imported, Ingest, Lookup, Manual,  # noqa: E402
                          Part)

from .diagram import Diagram  # noqa: E402
from .populate import AutoPopulate  # noqa: E402
from .pipeline.jobs import Job  # noqa: E402
from . import blob  # noqa: E402,F401  (DataJoint's dj.blob.pack / unpack)
from .storage.objectref import ObjectRef  # noqa: E402
from .storage.npy import NpyCodec, NpyRef  # noqa: E402
from .storage.schema_addressed import SchemaAddressedCodec as SchemaCodec  # noqa: E402
from . import migrate  # noqa: E402,F401  (dj.migrate: DataJoint 0.14 databases to 2.x)

schema = Schema
#: DataJoint module paths served by joinflow modules of another name
__datajoint_aliases__ = {"datajoint.builtin_codecs.object": "joinflow.storage.objects",
                         "datajoint.objectref": "joinflow.storage.objectref",
                         "datajoint.builtin_codecs.npy": "joinflow.storage.npy",
                         "datajoint.staged_insert": "joinflow.storage.staged"}
key = "KEY"  # DataJoint 0.x: fetch(dj.key) is fetch('KEY')
__version__ = "0.1.0"

__all__ = [
    "config", "Config", "conn", "Connection", "Schema", "schema", "VirtualModule",
    "virtual_schema", "create_virtual_module", "list_schemas", "Manual", "Lookup", "Imported",
    "Computed", "Part", "Entry", "Ingest", "Compute", "FreeTable", "Table", "QueryExpression",
    "U", "Top", "AndList", "Not", "Codec", "CodecContext", "get_codec", "list_codecs",
    "AttachFileType", "ValidationResult", "errors", "Diagram", "key", "AttributeAdapter",
    "AutoPopulate", "Job", "ObjectRef", "NpyCodec", "NpyRef",
    "SchemaCodec", "Instance",
] + list(errors.__all__)


def __getattr__(name: str) -> object:
    if name == "gc":  # dj.gc, imported on first use
        import importlib
        return importlib.import_module(".gc", __name__)
    if name == "cli":  # dj.cli(args): the `dj` command (a callable module), imported on first use
        import importlib
        return importlib.import_module(".cli", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
