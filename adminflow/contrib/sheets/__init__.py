"""Records in a Google Sheets worksheet: ``pip install "adminflow[sheets]"``.

Built on gspread. :class:`SpreadsheetStorer` keeps a flow's dataclass records
in one worksheet, one row each under a header of field names; it loads them
typed in one read and stores only the cells that changed in one write (see
:mod:`.storer`, :mod:`.columns`, :mod:`.client`).
"""

from __future__ import annotations

from .client import (
    SheetsAccessError,
    SheetsConfigError,
    SheetsError,
    SheetsQuotaExceeded,
    SheetsUnavailable,
)
from .columns import CellError, RecordTypeError
from .storer import HeaderMismatch, SheetRecordsError, SheetStoreCounts, SpreadsheetStorer

__all__ = [
    "CellError",
    "HeaderMismatch",
    "RecordTypeError",
    "SheetRecordsError",
    "SheetStoreCounts",
    "SheetsAccessError",
    "SheetsConfigError",
    "SheetsError",
    "SheetsQuotaExceeded",
    "SheetsUnavailable",
    "SpreadsheetStorer",
]
