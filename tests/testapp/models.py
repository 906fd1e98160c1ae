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


class Seat(models.Model):
    """A lab seat: what the storer's unique-constraint handling is tested on.

    Each kind of unique value a step may swap between records: a required
    text code, an optional locker number, and a desk that is unique within its
    room (a composite constraint on a required integer).
    """

    code = models.CharField(max_length=12, unique=True)
    locker = models.PositiveIntegerField(unique=True, null=True, blank=True)
    room = models.CharField(max_length=12)
    desk = models.PositiveIntegerField()
    holder = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["room", "desk"], name="testapp_seat_room_desk"),
        ]

    def __str__(self) -> str:
        return self.code


class Badge(models.Model):
    """A building badge, keyed by its ``number``, which is unknown until one is issued."""

    number = models.CharField(max_length=16, unique=True, null=True, blank=True)
    holder = models.CharField(max_length=32)

    def __str__(self) -> str:
        return self.number or f"badge {self.pk} (no number)"
