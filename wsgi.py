"""WSGI entry point for gunicorn and the Flask CLI (`flask --app wsgi ...`)."""
from mobile_api import create_app

app = create_app()
