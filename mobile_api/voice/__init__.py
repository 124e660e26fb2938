"""Voice resolutions: upload a dictation, follow its transcription, review queue; worker commands."""
from ..auth.tokens import authenticate
from ..blueprint import Blueprint

# cli_group=None: the worker commands are top-level (`flask --app wsgi transcription-worker`).
blp = Blueprint("voice", __name__, description="Voice resolutions", cli_group=None)
blp.before_request(authenticate)

from . import cli, routes  # noqa: E402,F401  (they attach to blp)
