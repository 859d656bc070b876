"""All crm models, imported here so ``Base.metadata`` (and Alembic) sees every table."""

import importlib
import pkgutil

from crm.models.bank import Branch, Product, RelationshipManager
from crm.models.base import Base, UTCDateTime, utcnow
from crm.models.care import Campaign, Delivery
from crm.models.conversations import Conversation, ConversationTransition, Message
from crm.models.customers import (
    BindingChallenge,
    ChannelIdentity,
    Customer,
    MarketingConsent,
)
from crm.models.holdings import Account, Card, Loan, LoanInstallment, TermDeposit, Transaction
from crm.models.insights import (
    InsightAlert,
    InsightCluster,
    InsightCursor,
    Lead,
    UnansweredQuestion,
)
from crm.models.otp import OtpGuard
from crm.models.service import Appointment, AuditEvent, LossReport, SmsOutbox, Ticket
from crm.models.surveys import CallbackTask, Survey, SurveyAnswer, SurveyResponse

# Domain modules added by other parts (knowledge base, wechat, segments ...) register themselves
# on Base when imported; import every module of this package so metadata is always complete.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Account", "AuditEvent", "Appointment", "Base", "BindingChallenge", "Branch", "CallbackTask",
    "Campaign", "Card", "ChannelIdentity", "Conversation", "ConversationTransition", "Customer",
    "Delivery", "InsightAlert", "InsightCluster", "InsightCursor", "Lead", "Loan", "LoanInstallment",
    "LossReport", "MarketingConsent", "Message", "OtpGuard",
    "Product", "RelationshipManager", "SmsOutbox", "Survey", "SurveyAnswer", "SurveyResponse", "TermDeposit",
    "Ticket", "Transaction", "UnansweredQuestion", "UTCDateTime", "utcnow",
]
