"""Flask extensions, created unbound and bound in the app factory with init_app."""
from flask import current_app, json
from flask_compress import Compress
from flask_migrate import Migrate
from flask_smorest import Api as _Api

from transcription.registry import model_paths

from . import errors, openapi


class Api(_Api):
    """flask-smorest's Api, with its error bodies replaced by problem+json."""

    def handle_http_exception(self, error):
        return errors.http_exception_response(error)

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs={"extra_plugins": [openapi.ContractPlugin()], **(spec_kwargs or {})})
        self.ma_plugin.converter.add_attribute_function(openapi.field_schema)
        self.ma_plugin.converter.languages = sorted(model_paths(app.config["VOSK_MODELS"]))

    def _openapi_json(self):
        """Serve the contract (built once per process)."""
        cached = current_app.extensions.get("openapi_json")
        if cached is None:
            document = openapi.finish(self.spec.to_dict())
            cached = current_app.extensions["openapi_json"] = json.dumps(document, indent=2, sort_keys=False)
        return current_app.response_class(cached, mimetype="application/json")


migrate = Migrate()
# JSON answers compressed when the client asks (Accept-Encoding), e.g. a 100-line inbox page ~5x smaller.
compress = Compress()
