"""The shop's own models: its user model and the members a flow tidies."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Customer(AbstractUser):
    """The shop's user model (``AUTH_USER_MODEL = "shop.Customer"``), not ``auth.User``."""

    loyalty_number = models.CharField(max_length=20, blank=True)


class Member(models.Model):
    """A member of the shop's club: the records of the ``tidy-members`` flow."""

    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)

    def __str__(self) -> str:
        return self.name
