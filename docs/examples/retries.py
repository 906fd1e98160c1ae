from adminflow import AdminPropagateStep, RetryPolicy


def invite(username):
    """Invite ``username`` to the organisation: your GitHub client's call."""
    raise NotImplementedError("call your GitHub client here")


class InviteToOrg(AdminPropagateStep):
    description = "Invite students to the course's GitHub organisation"
    retry_on = (ConnectionError, TimeoutError)
    retry = RetryPolicy(max_attempts=5, backoff=2.0, max_backoff=60.0)  # waits up to 2, 4, 8, 16 s
    time_limit = 300  # seconds it should take

    def propagate_records(self, records, logger, get_metadata, debug=False):
        for student, lock in records:
            with lock:
                if not student.invited:  # already done by an earlier attempt: skip
                    invite(student.github)
                    student.invited = True
