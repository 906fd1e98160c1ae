from adminflow import AdminUpdateStep, register_step

from .models import Member


@register_step
class NormalizeEmails(AdminUpdateStep[Member]):
    description = "Trim and lower-case every member's email address"

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        fixed = 0
        for member, lock in records:
            with lock:
                email = member.email.strip().lower()
                if email != member.email:
                    member.email = email
                    fixed += 1
        logger(f"normalized {fixed} email addresses")
        set_metadata("emails_normalized", fixed)
