"""The dashboard page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from . import edit_cookie, is_edit_token

bp = Blueprint("views", __name__)


@bp.get("/")
def index():
    token = request.args.get("edit")
    if token is not None:
        # The address the server printed: keep the secret in a cookie only this site's
        # requests carry, and take it out of the address bar (the browser's history
        # still lists the address; the secret changes each time the server starts).
        response = redirect("/", code=303)
        if is_edit_token(token):
            response.set_cookie(edit_cookie(), token, httponly=True, samesite="Strict",
                                path="/")
        return response
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon():
    # The page sets an inline icon; browsers still ask for this one. Nothing to send.
    return "", 204
