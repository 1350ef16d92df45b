"""The dashboard page."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("views", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon():
    # The page sets an inline icon; browsers still ask for this one. Nothing to send.
    return "", 204
