"""``dj.migrate``: take a database made by DataJoint 0.14 to the 2.x format that DataJoint
2.3.5 and joinflow both read (DataJoint 2.3.5's ``datajoint.migrate`` names and return dicts).

Steps a lab follows (``docs/migration.md``): ``backup_schema``; ``migrate_columns`` (type
labels); ``migrate_external`` / ``migrate_filepath`` (0.x ``~external_<store>`` columns to 2.x
JSON columns; objects are copied before any row points at them), verify, then again with
``finalize=True``; ``rebuild_lineage``; ``add_job_metadata_columns``; ``verify_schema_v20``.
Every function that changes something defaults to ``dry_run=True`` where DataJoint's does."""
from ._catalog import MigrationError
from .external import (check_store_configuration, migrate_external,
                       migrate_external_pointers_v2, migrate_filepath,
                       verify_external_integrity)
from .labels import (analyze_blob_columns, analyze_columns, check_migration_status,
                     generate_migration_sql, migrate_blob_columns, migrate_columns,
                     verify_schema_v20)
from .parallel import (backup_schema, compare_query_results, copy_table_data,
                       create_parallel_schema, restore_schema)
from .upkeep import add_job_metadata_columns, rebuild_lineage

__all__ = [
    "MigrationError", "add_job_metadata_columns", "analyze_blob_columns", "analyze_columns",
    "backup_schema", "check_migration_status", "check_store_configuration",
    "compare_query_results", "copy_table_data", "create_parallel_schema",
    "generate_migration_sql", "migrate_blob_columns", "migrate_columns", "migrate_external",
    "migrate_external_pointers_v2", "migrate_filepath", "rebuild_lineage", "restore_schema",
    "verify_external_integrity", "verify_schema_v20",
]
