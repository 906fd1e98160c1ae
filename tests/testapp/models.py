"""A host site's own model, as a course site would have it: the model-backed storer's records."""

from __future__ import annotations

from django.db import models


class Student(models.Model):
    """One student on the roster, keyed by their university id (``netid``)."""

    netid = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    github = models.CharField(max_length=100, blank=True)
    section = models.CharField(max_length=20, blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["netid"]

    def __str__(self) -> str:
        return self.netid
