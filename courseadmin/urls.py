"""URLs of the example course site: the Django admin, where flows are run and watched.

The site has no pages of its own, so its root (where the admin's "View site"
leads) opens the course's roster: the students, their sections and groups,
each with what the flows did to them.
"""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:course_student_changelist"), name="home"),
    path("admin/", admin.site.urls),
]
