"""A flow's records in the database: ``DjangoRecordStorer`` and the layouts it stores by.

``storer`` compares and stores; ``layouts`` reads and writes the two kinds of
records (model instances, typed records in the ``Record`` table);
``unique_values`` lets a store swap unique values between records.
"""

from .layouts import RecordError, StoreConflict, StorerDeclarationError
from .storer import DjangoRecordStorer, StoreCounts, audit_collection, bind_storer

__all__ = [
    "DjangoRecordStorer",
    "RecordError",
    "StoreConflict",
    "StoreCounts",
    "StorerDeclarationError",
    "audit_collection",
    "bind_storer",
]
