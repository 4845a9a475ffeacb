"""Object storage: configured stores over fsspec, content hashes and placement, a local cache.

Layers (arrows point down only)::

    gc.py       dj.gc: GarbageCollector (2.3.5) and scan/collect (2.0) over the stores
    legacy.py, external.py  DataJoint 0.14 external storage (blob@/attach@/filepath@store)
    filepath.py <filepath@store> (2.x): references to files already in a store; ObjectRef
    npy.py      <npy@store>: .npy files, schema-addressed; fetch gives an NpyRef (ranged reads)
    objects.py  <object@store>: files and folders, schema-addressed; fetch gives an ObjectRef
    staged.py   Table.staged_insert1: <object@> content written straight to the store
    schema_addressed.py  the base of schema-addressed codecs (<object@>, <npy@>): paths, cleanup
    codecs.py   <hash@store>: the codec <blob@>/<attach@> chain onto (DataJoint 2.x layout)
    pending.py  pending-write records: an insert's objects are claimed before the upload
    access.py   stores_for(config): the StoreAccess the insert path and codecs use
    transfer.py upload_missing (dedup), fetch_verified (cache, batch, hash check)
    stores.py   Stores: names -> Store, for one configuration
    cache.py    ObjectCache: local, content-addressed, multi-process safe
    store.py    Store: one store's object I/O (atomic writes, concurrent batches)
    failures.py driver errors -> StoreError (one place)
    hashing.py  content hashes and hash-addressed paths (DataJoint 2.x and 0.14), pure
    spec.py     StoreSpec, validate_stores: dj.config['stores'] checked, pure
"""
from .access import ConfiguredStores, stores_for
from .cache import ObjectCache
from .hashing import (
                      content_hash,
                      file_hash,
                      hash_path,
                      is_hash,
                      legacy_attachment_uuid,
                      legacy_file_uuid,
                      legacy_path,
                      legacy_to_hash,
                      legacy_uuid,
                      subfold,
)
from .schema_addressed import (SchemaAddressedCodec, build_object_path, encode_pk_value,
                               generate_token)
from .spec import StoreSpec, resolve_store_name, validate_stores
from .store import LocalFile, Store
from .stores import Stores
from .transfer import fetch_verified, upload_missing

__all__ = [
    "ConfiguredStores", "LocalFile", "ObjectCache", "Store", "StoreSpec", "Stores",
    "content_hash", "fetch_verified", "file_hash", "hash_path", "is_hash",
    "legacy_attachment_uuid", "legacy_file_uuid", "legacy_path", "legacy_to_hash", "legacy_uuid",
    "SchemaAddressedCodec", "build_object_path", "encode_pk_value", "generate_token",
    "resolve_store_name", "stores_for", "subfold", "upload_missing", "validate_stores",
]
