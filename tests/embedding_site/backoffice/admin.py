"""The shop's back office: its own AdminSite, with adminflow's admins registered on it."""

from adminflow.admin import FlowAdmin, FlowRunAdmin, RecordAdmin, RecordChangeAdmin
from adminflow.models import Flow, FlowRun, Record, RecordChange
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from shop.models import Customer, Member


class BackOffice(admin.AdminSite):
    site_header = "Shop back office"


site = BackOffice(name="backoffice")
site.register(Customer, UserAdmin)
site.register(Member)
site.register(Flow, FlowAdmin)
site.register(FlowRun, FlowRunAdmin)
site.register(Record, RecordAdmin)
site.register(RecordChange, RecordChangeAdmin)
