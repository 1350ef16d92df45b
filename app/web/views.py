"""The dashboard page."""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, redirect, render_template, request

from . import EDIT_COOKIE

bp = Blueprint("views", __name__)


@bp.get("/")
def index():
    token = request.args.get("edit")
    if token is not None:
        # The address the server printed: keep the secret in a cookie only this site's
        # requests carry, and take it out of the address bar (and the history).
        response = redirect("/", code=303)
        if hmac.compare_digest(token, current_app.config["EDIT_TOKEN"]):
            response.set_cookie(EDIT_COOKIE, token, httponly=True, samesite="Strict",
                                path="/")
        return response
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon():
    # The page sets an inline icon; browsers still ask for this one. Nothing to send.
    return "", 204
