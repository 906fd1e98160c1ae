"""Schedules: cron expressions read in the site's zone (``cron``), and the scheduler that
claims due times and starts their runs (``scheduler``).

Importing this package imports no models: ``adminflow.models`` reads ``cron``.
"""
