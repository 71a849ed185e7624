"""Data management: list tenants, users and sessions, show or delete one session, and export /
import JSON Lines. The engine's methods (``memory.list_tenants()``, ``memory.export_jsonl()``...)
and the ``langmem-tiered`` command use these; the file format is described in
:mod:`langmem_tiered.admin.models`."""

from ._admin import Admin
from ._admin_async import AsyncAdmin
from .models import (
    EXPORT_FORMAT,
    CacheRecord,
    ExportHeader,
    ExportRecord,
    FactRecord,
    MemoryRecord,
    MessageRecord,
    SessionInfo,
    SessionRecord,
    SessionView,
    SummaryRecord,
    TenantInfo,
    UserInfo,
    dump_record,
    parse_record,
)

__all__ = [
    "EXPORT_FORMAT",
    "Admin",
    "AsyncAdmin",
    "CacheRecord",
    "ExportHeader",
    "ExportRecord",
    "FactRecord",
    "MemoryRecord",
    "MessageRecord",
    "SessionInfo",
    "SessionRecord",
    "SessionView",
    "SummaryRecord",
    "TenantInfo",
    "UserInfo",
    "dump_record",
    "parse_record",
]
