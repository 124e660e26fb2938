"""The data model. Import models from here; `db` is the Flask-SQLAlchemy handle."""
from . import (
    changes,  # noqa: F401  (registers the sync change stamping)
    signing,  # noqa: F401  (approvals and signatures: import their models from models.signing)
)
from .assistant_rights import AssistantRight
from .audit import AuditEvent, AuditHead
from .auth import AuthSession, Device, LoginFailure
from .base import BigId, db, utcnow
from .corrections import CorrectionSource, LearnedCorrection  # noqa: F401
from .documents import (
    Attachment,
    Document,
    DocumentText,
    InboxItem,
    RegistrationCounter,
    Rendition,
    document_addressees,
)
from .idempotency import IdempotentResponse
from .org import Organization, Unit, User, assistants, unit_members
from .push import PushDelivery
from .queue import Job, OutboxMessage, ProcessHeartbeat
from .reminders import ControlDigest, ReminderScan, TaskReminder
from .resolutions import (
    ExtensionRequest,
    ReportFile,
    Resolution,
    ResolutionRevision,
    Task,
    TaskMonth,
    TaskReport,
    resolution_executors,
)
from .revocation import RevocationList  # noqa: F401
from .substitutions import Substitution
from .voice import VoiceNote

__all__ = [
    "AssistantRight", "Attachment", "AuditEvent", "AuditHead", "AuthSession", "BigId", "Device", "Document",
    "DocumentText", "IdempotentResponse",
    "InboxItem", "Job", "LoginFailure",
    "Organization", "OutboxMessage", "ProcessHeartbeat", "PushDelivery", "RegistrationCounter", "Rendition",
    "Resolution",
    "ResolutionRevision", "Substitution", "Task", "Unit", "User", "VoiceNote", "assistants", "db",
    "document_addressees",
    "resolution_executors", "ExtensionRequest", "ReportFile", "TaskReport", "TaskMonth", "ControlDigest",
    "ReminderScan",
    "TaskReminder", "unit_members", "utcnow",
]
