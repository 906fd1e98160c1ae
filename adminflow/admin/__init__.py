"""adminflow's admin: one module per model family, registered on the default site.

A site of its own registers the same classes: ``my_site.register(Flow, FlowAdmin)``.
A host model's admin shows what runs did to each of its records with
``class StudentAdmin(RecordHistoryMixin, admin.ModelAdmin)``.
"""

from django.contrib import admin

from ..models import Flow, FlowRun, Plan, Record, RecordChange
from .flow_admin import FlowAdmin
from .plan_admin import PlanAdmin
from .record_admin import RecordAdmin, RecordChangeAdmin
from .record_history import RecordHistoryMixin
from .run_admin import FlowRunAdmin

__all__ = [
    "FlowAdmin",
    "FlowRunAdmin",
    "PlanAdmin",
    "RecordAdmin",
    "RecordChangeAdmin",
    "RecordHistoryMixin",
]

admin.site.register(Flow, FlowAdmin)
admin.site.register(FlowRun, FlowRunAdmin)
admin.site.register(Plan, PlanAdmin)
admin.site.register(Record, RecordAdmin)
admin.site.register(RecordChange, RecordChangeAdmin)
