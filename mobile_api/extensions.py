"""Flask extensions, created unbound and bound in the app factory with init_app."""
from flask_compress import Compress
from flask_migrate import Migrate
from flask_smorest import Api as _Api

from . import errors


class Api(_Api):
    """flask-smorest's Api, with its error bodies replaced by problem+json."""

    def handle_http_exception(self, error):
        return errors.http_exception_response(error)


migrate = Migrate()
# JSON answers compressed when the client asks (Accept-Encoding), e.g. a 100-line inbox page ~5x smaller.
compress = Compress()
