"""The data model: SQLModel tables and the API's schemas (imports nothing of ours but itself)."""

from models.audit import AuditEvent, AuditEventPublic, AuditEventsPublic
from models.common import (
    OPEN_STATUSES,
    Category,
    Channel,
    Clock,
    DeliveryStatus,
    Direction,
    OfficeHours,
    Outcome,
    Priority,
    Role,
    SlaState,
    TargetKind,
    TicketStatus,
    utcnow,
)
from models.delivery import DeliveriesPublic, Delivery, DeliveryPublic, WebhookEvent
from models.department import WEEKDAYS, Department, DepartmentPublic, DepartmentsPublic, DepartmentWrite
from models.feedback import LabelledExample
from models.message import MAX_BATCH_SIZE, MAX_TEXT_LENGTH, Message, MessageBatch, MessageCreate, MessagePublic
from models.report import ReportCounts, ReportMinutes, ReportMinutesChange, ReportTotals, ReportTotalsChange
from models.routing import (
    RoutingRule,
    RoutingRulePublic,
    RoutingRulesPublic,
    RoutingRuleWrite,
    SlaPoliciesPublic,
    SlaPolicy,
    SlaPolicyPublic,
    SlaPolicyWrite,
)
from models.sla import ResponseFact, SlaTarget
from models.template import (
    ReplyTemplate,
    ReplyTemplateCreate,
    ReplyTemplatePublic,
    ReplyTemplatesPublic,
    ReplyTemplateUpdate,
)
from models.ticket import (
    BatchItemError,
    BatchResult,
    IngestResult,
    NoteCreate,
    ReplyCreate,
    Ticket,
    TicketDetail,
    TicketEvent,
    TicketEventPublic,
    TicketPublic,
    TicketsPublic,
    TicketUpdate,
    TicketViewer,
    VersionRef,
)
from models.user import ApiToken, User, UserDepartment, UserPublic, UserSession
