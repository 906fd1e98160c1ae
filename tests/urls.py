"""URLs of the test project: the Django admin, where adminflow's pages live."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
