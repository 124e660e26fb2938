"""The live server of the concurrency tests (gunicorn over a fresh PostgreSQL with the demo data), for the
race of an issue and a reject."""
from tests.concurrency.conftest import server  # noqa: F401
from tests.voice.conftest import models, worker  # noqa: E402, F401  (a real Vosk model and worker)
