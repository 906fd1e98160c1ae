"""A site being deployed: the test site plus a flow that nobody has configured yet.

Flow ``course-roster`` needs a key that has no default (``add.numbers``, as a
real site's roster flow needs a course id), and has no default config, so
its ``Flow`` row starts with an empty config. :mod:`.settings` installs this
app for the ``migrate``, ``check`` and ``runflow`` processes of
``tests/test_deploy_checks.py``; the test process registers the same flow
for one test at a time (see :func:`.roster.course_roster`).
"""
