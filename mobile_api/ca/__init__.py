"""The organization CAs' revocation lists, public: the distribution point their certificates name."""
from flask import Response

from domain import revocation

from ..blueprint import Blueprint
from ..openapi import binary_body, errors

blp = Blueprint("ca", __name__, description="Certificate revocation lists")


@blp.route("/ca/<id:organization_id>/crl", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, description="The CA's current CRL (DER), signed by the CA", content_type="application/pkix-crl")
@binary_body(200, "application/pkix-crl")
@errors("no_certificate_authority")
def crl(organization_id):
    """The organization CA's certificate revocation list; a new one is issued on every revocation and before
    the current one's nextUpdate. No sign-in: anyone checking a signature fetches it."""
    answer = Response(revocation.served(organization_id), mimetype="application/pkix-crl")
    answer.headers["Cache-Control"] = "public, max-age=300"
    return answer
