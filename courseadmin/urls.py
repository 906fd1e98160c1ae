"""URLs of the example course site: the Django admin, where flows are run and watched."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
