"""A module nothing imports: a test checks that naming it in a spec edited in the admin
does not import it."""

from adminflow import AdminUpdateStep


class Marked(AdminUpdateStep):
    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        pass
