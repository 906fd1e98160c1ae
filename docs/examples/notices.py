# yourapp/notices.py, imported in YourAppConfig.ready(): from . import notices
import requests
from django.conf import settings
from django.dispatch import receiver

from adminflow.signals import run_notification


@receiver(run_notification, dispatch_uid="yourapp.slack")
def post_to_slack(sender, run, event, subject, link, **kwargs):
    text = f"{subject}\n{run.error}" + (f"\n{link}" if link else "")
    requests.post(settings.SLACK_WEBHOOK_URL, json={"text": text}, timeout=10)
