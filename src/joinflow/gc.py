"""``dj.gc``: garbage collection of object stores (see ``joinflow.storage.gc``)."""
from .storage.gc import (GarbageCollector, collect, delete_schema_path, list_hash_paths,
                         list_schema_paths, scan, scan_hash_references, scan_schema_references)

__all__ = ["GarbageCollector", "collect", "delete_schema_path", "list_hash_paths",
           "list_schema_paths", "scan", "scan_hash_references", "scan_schema_references"]
