"""Landing-file ingestion: mapping files, row checks, quarantine and reconciled counts."""

from b2b_scoring.lib.ingestion.ingest import (
    QUARANTINE_SCHEMA,
    RAW_SCHEMA,
    IngestionError,
    LoadMode,
    TableReport,
    ensure_raw_table,
    export_quarantine,
    ingest_flat_export,
    ingest_landing,
    ingest_table,
    landing_signatures,
    time_range,
)
from b2b_scoring.lib.ingestion.mapping import (
    FlatExportMapping,
    MappingError,
    SourceMapping,
    TableMapping,
    identity_mapping,
    load_mapping,
    parse_mapping,
)

__all__ = [
    "QUARANTINE_SCHEMA",
    "RAW_SCHEMA",
    "FlatExportMapping",
    "IngestionError",
    "LoadMode",
    "MappingError",
    "SourceMapping",
    "TableMapping",
    "TableReport",
    "ensure_raw_table",
    "export_quarantine",
    "identity_mapping",
    "ingest_flat_export",
    "ingest_landing",
    "ingest_table",
    "landing_signatures",
    "time_range",
    "load_mapping",
    "parse_mapping",
]
