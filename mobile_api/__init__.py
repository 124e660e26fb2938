"""The mobile API: a Flask app factory and one blueprint per feature."""
import logging
import os

import sqlalchemy as sa
from flask import Flask
from flask.ctx import _AppCtxGlobals
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter, ValidationError

from models import AuthSession, User, blobstore, db, liveness, raw

from . import config, errors, guard, openapi, transaction
from .extensions import Api, compress, migrate
from .fields import parse_id
from .json_provider import OrjsonProvider


class RequestGlobals(_AppCtxGlobals):
    """`g`, with the signed-in user and session loaded on first use rather than on every request."""

    def sign_in(self, user_id: int, session_id: int, user: User | None = None) -> None:
        """Who the request is from; their User if it is loaded already, else loaded on first use."""
        self.user_id, self.session_id = user_id, session_id
        self.__dict__.pop("_user", None)
        if user is not None:
            self._user = user

    @property
    def user(self) -> User:
        if "_user" not in self.__dict__:
            self._user = db.session.execute(_SIGNED_IN, {"id": self.user_id}).scalar()
        return self._user

    @property
    def auth_session(self) -> AuthSession:
        return db.session.get(AuthSession, self.session_id)


# Built once: Session.get builds its statement, and the key of its compiled form, anew on every call.
_SIGNED_IN = sa.select(User).where(User.id == sa.bindparam("id"))


class IdConverter(BaseConverter):
    """Path ids: digits that fit a 64-bit key; anything else is simply not found."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        parsed = parse_id(value)
        if parsed is None:
            raise ValidationError()
        return parsed

    def to_url(self, value) -> str:
        return str(value)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment, overridden by `test_config` in tests."""
    app = Flask(__name__, instance_relative_config=False)
    app.app_ctx_globals_class = RequestGlobals
    app.config.from_mapping(config.from_env())
    app.config.update(
        API_TITLE="Mobile office API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        COMPRESS_MIMETYPES=["application/json", "application/problem+json"],
        COMPRESS_ALGORITHM=["gzip", "br"],
        COMPRESS_LEVEL=5,
        COMPRESS_MIN_SIZE=500,
    )
    if test_config:
        app.config.update(test_config)
    config.fill_dev_secrets(app.config)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])
    app.json = OrjsonProvider(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("pool_size", app.config["DATABASE_POOL_SIZE"])
        options.setdefault("connect_args", {"options": raw.NO_JIT})
        app.config.setdefault("SQLALCHEMY_BINDS", {}).setdefault(
            raw.READER, raw.reader_options(url, app.config["DATABASE_POOL_SIZE"]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    app.url_map.converters["id"] = IdConverter
    app.extensions["blobstore"] = blobstore.from_config(app.config)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            liveness.install(engine)
        if raw.READER in db.engines:  # one database: its two pools are let go together
            reader = db.engines[raw.READER]
            sa.event.listen(db.engine, "engine_disposed", lambda _engine: reader.dispose())
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    compress.init_app(app)
    api = Api(app)
    api.register_converter(IdConverter, lambda _: dict(openapi.ID_SCHEMA))
    errors.register(app)

    guard.install(app)

    from . import (
        approvals,
        auth,
        ca,
        control,
        devices,
        directory,
        documents,
        drafts,
        inbox,
        ops,
        organization,
        resolutions,
        search,
        substitutions,
        tasks,
        voice,
    )
    for module in (auth, devices, inbox, documents, resolutions, tasks, control, approvals, voice, directory,
                   organization, search, drafts, substitutions, ca):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    api.register_blueprint(ops.blp)
    from . import console
    console.init_app(app)
    guard.install_form_check(app)  # after every blueprint, the console's too
    transaction.init_app(app)  # every view, the console's too
    ops.init_metrics(app)

    from . import cli
    from .directory import cli as directory_cli
    cli.register(app)
    directory_cli.register(app)
    return app
