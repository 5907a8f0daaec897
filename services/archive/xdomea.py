"""xdomea 3.0.0 messages for disposal (`Aussonderung`) to the state archive: build, read, validate, package.

The process (xdomea "Aussonderung durchführen"), one `ProzessID` (UUID) throughout:
  0501 Aussonderung.Anbieteverzeichnis   we offer files (metadata only)              -> `build_offer`
  0502 Aussonderung.Bewertungsverzeichnis the archive answers A (archive) / V (destroy) -> `parse_evaluation`
  0503 Aussonderung.Aussonderung         we transfer the chosen objects with files    -> `build_transfer`
  0506 Aussonderung.AussonderungImportBestaetigen  the archive confirms the import    -> `parse_confirmation`

Every message built here is validated against the official schema before it is returned, and every
message read is validated before it is trusted. Pure: the standard library and lxml, nothing of Kafka,
MinIO or HTTP. The schema is `xdomea.xsd` from the xdomea 3.0.0 distribution; where it lies comes from the
`schema` argument, else `EAKTE_XDOMEA_SCHEMA`, else `../shared/xdomea/xdomea_3.0.0/xdomea.xsd` beside the
project root.

The messages are split by responsibility: `xdomea_xml` (namespace, code lists, names, schema, element
helpers), `xdomea_build` (0501, 0503), `xdomea_read` (0502, 0506), `xdomea_archive_side` (0502 and 0506 as
the state archive sends them, for tests), `xdomea_zip` (packages). This module is the one to import.
"""

from services.archive.xdomea_archive_side import build_confirmation, build_evaluation
from services.archive.xdomea_build import build_offer, build_transfer, select_for_transfer
from services.archive.xdomea_model import (
    Confirmation,
    Disposal,
    DocumentRecord,
    Evaluation,
    FileRecord,
    ImportedObject,
    Institution,
    ProcessRecord,
    XdomeaError,
    XdomeaSchemaUnavailable,
)
from services.archive.xdomea_read import parse_confirmation, parse_evaluation
from services.archive.xdomea_xml import (
    DATEIFORMAT_BY_EXTENSION,
    DATEIFORMAT_OTHER,
    DATEIFORMAT_PDF_A,
    DEFAULT_SCHEMA_PATH,
    MESSAGES,
    NS,
    SCHEMA_ENV,
    message_file_name,
    offer_xml_name,
    offer_zip_name,
    primary_file_name,
    schema_path,
    schema_problem,
    transfer_xml_name,
    transfer_zip_name,
    validate,
)
from services.archive.xdomea_zip import build_zip, write_zip

__all__ = [
    "DATEIFORMAT_BY_EXTENSION",
    "DATEIFORMAT_OTHER",
    "DATEIFORMAT_PDF_A",
    "DEFAULT_SCHEMA_PATH",
    "MESSAGES",
    "NS",
    "SCHEMA_ENV",
    "Confirmation",
    "Disposal",
    "DocumentRecord",
    "Evaluation",
    "FileRecord",
    "ImportedObject",
    "Institution",
    "ProcessRecord",
    "XdomeaError",
    "XdomeaSchemaUnavailable",
    "build_confirmation",
    "build_evaluation",
    "build_offer",
    "build_transfer",
    "build_zip",
    "message_file_name",
    "offer_xml_name",
    "offer_zip_name",
    "parse_confirmation",
    "parse_evaluation",
    "primary_file_name",
    "schema_path",
    "schema_problem",
    "select_for_transfer",
    "transfer_xml_name",
    "transfer_zip_name",
    "validate",
    "write_zip",
]
