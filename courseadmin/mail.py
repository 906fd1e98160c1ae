"""Email settings from one ``EMAIL_URL``, in the form the running Django wants.

Django 6.1 replaced ``EMAIL_BACKEND`` and the ``EMAIL_*`` settings with
``MAILERS``; on 5.2 the old settings are the only ones. Drop the 5.2 branch
when support for Django 5.2 ends.
"""

from __future__ import annotations

from typing import Any

import django
import environ

# EMAIL_* setting -> the backend's keyword argument, as MAILERS' OPTIONS name it.
_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_TIMEOUT": "timeout",
    "EMAIL_FILE_PATH": "file_path",
}


def mail_settings(email_url: str) -> dict[str, Any]:
    """Return the settings that send email as ``email_url`` says (``smtp+tls://...``)."""
    config = environ.Env.email_url_config(email_url)
    if django.VERSION < (6, 1):
        return config
    options = {_OPTIONS[key]: value for key, value in config.items() if key in _OPTIONS and value}
    return {"MAILERS": {"default": {"BACKEND": config["EMAIL_BACKEND"], "OPTIONS": options}}}
