"""What the browser tests share: logging in through the admin's page, and screenshots."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

SHOTS = Path("/tmp/shots")
"""Where the tests leave screenshots of the pages, for people to look at."""
WIDTH, HEIGHT = 1280, 900


def log_in(page: Page, base_url: str, user: User, next_url: str) -> None:
    """Log ``user`` in through the admin's login page, landing on ``next_url``."""
    page.goto(f"{base_url}{reverse('admin:login')}?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(user.username)
    expect(page).to_have_url(f"{base_url}{next_url}")


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
