"""Blueprints by audience, error pages, and the front-end assets fetched from npm."""

from pathlib import Path
from typing import Any

from flask import Flask, abort, render_template, send_from_directory
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app import policy
from app.engine import specs
from app.extensions import db, login_manager

ASSETS = Path(__file__).resolve().parents[2] / "node_modules" / "govuk-frontend" / "dist" / "govuk"
STATIC_FILES = {"govuk-frontend.min.css", "govuk-frontend.min.js"}
# Our own scripts and styles, kept in the repository (not from npm); each file is named here, nothing else is
# served. Pages carry no inline script or style, so the Content-Security-Policy can forbid both.
OWN_FILES_DIR = Path(__file__).resolve().parent / "static_own"
OWN_FILES = {
    "compass-modeller.js",
    "compass-diagram.js",
    "compass-drafts.js",
    "compass-form-editor.js",
    "compass-figures.js",
    "compass-init.js",
    "compass.css",
}
# Other npm packages' built files, each served under a name of its own: the diagram viewer and the charts.
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
NPM_FILES = {
    "bpmn-navigated-viewer.js": NODE_MODULES / "bpmn-js" / "dist" / "bpmn-navigated-viewer.production.min.js",
    "bpmn-modeler.js": NODE_MODULES / "bpmn-js" / "dist" / "bpmn-modeler.production.min.js",
    # The modeller's palette and context pad draw their icons with this font, found beside its stylesheet.
    "bpmn-font/css/bpmn.css": NODE_MODULES / "bpmn-js" / "dist" / "assets" / "bpmn-font" / "css" / "bpmn.css",
    "bpmn-font/font/bpmn.woff2": NODE_MODULES / "bpmn-js" / "dist" / "assets" / "bpmn-font" / "font" / "bpmn.woff2",
    "bpmn-font/font/bpmn.woff": NODE_MODULES / "bpmn-js" / "dist" / "assets" / "bpmn-font" / "font" / "bpmn.woff",
    "bpmn-js.css": NODE_MODULES / "bpmn-js" / "dist" / "assets" / "bpmn-js.css",
    "diagram-js.css": NODE_MODULES / "bpmn-js" / "dist" / "assets" / "diagram-js.css",
    "chart.umd.min.js": NODE_MODULES / "chart.js" / "dist" / "chart.umd.min.js",
}


def register(app: Flask) -> None:
    from app.web import (
        api,
        auth,
        case_diagram,
        cases,
        census,
        contacts,
        dashboard,
        domestic_abuse,
        drafts,
        failed_steps,
        figures,
        form_editor,
        information_requests,
        lado,
        mat,
        outbox,
        people,
        processes,
        retention,
        security,
        strategy,
        tasks,
        versions,
    )
    from app.web.converters import RecordId

    # Before any route is added, so every <int:...> in an address is a record id no larger than a real one.
    app.url_map.converters["int"] = RecordId
    flows = (mat, strategy, lado, information_requests, domestic_abuse)
    managers = (dashboard, figures, census, failed_steps, case_diagram)
    process_owners = (processes, form_editor, versions)
    for module in (
        auth,
        tasks,
        contacts,
        cases,
        people,
        api,
        drafts,
        outbox,
        retention,
        *flows,
        *managers,
        *process_owners,
    ):
        app.register_blueprint(module.bp)

    security.register(app)
    login_manager.login_view = "auth.login"
    # The session is bound to the browser that signed in: a copied cookie used elsewhere signs nobody in.
    login_manager.session_protection = "strong"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"

    from sqlalchemy import bindparam, select
    from sqlalchemy.orm import joinedload

    from app.models import User

    # Every request reads the user's roles and most their team: one query for all three, made once (building it
    # again on every request costs about as much as running it).
    user_with_roles = (
        select(User).options(joinedload(User.team), joinedload(User.role_rows)).where(User.id == bindparam("user_id"))
    )

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        return db.session.execute(user_with_roles, {"user_id": int(user_id)}).unique().scalar_one_or_none()

    @app.context_processor
    def navigation() -> dict[str, Any]:
        from flask_login import current_user

        # No signed-in user outside a request (a letter rendered by a service, say).
        user = current_user if current_user and current_user.is_authenticated else None
        return {
            "may_record_contact": user is not None and policy.can_record_contact(user),
            "may_search_people": user is not None and policy.can_search_people(user),
            "may_void_case": user is not None and policy.can_void_case(user),
            "may_see_referrer": user is not None and policy.can_see_referrer(user),
            "may_see_outbox": user is not None and policy.can_see_outbox(user),
            "may_post_letters": user is not None and policy.can_post_letters(user),
            "may_see_mat_list": user is not None and policy.can_see_mat_list(user),
            "may_receive_da_notification": user is not None and policy.can_receive_da_notification(user),
            "may_see_strategy_discussions": user is not None and policy.can_see_strategy_discussions(user),
            "may_see_lado": user is not None and policy.can_see_lado(user),
            "may_see_information_requests": user is not None and policy.can_see_information_requests(user),
            "may_manage_records": user is not None and policy.can_restrict_case(user),
            "may_review_retention": user is not None and policy.can_review_retention(user),
            "may_see_dashboard": user is not None and policy.can_see_dashboard(user),
            "may_see_figures": user is not None and policy.can_see_figures(user),
            "may_retry_failed_steps": user is not None and policy.can_retry_failed_steps(user),
            "may_export_census": user is not None and policy.can_export_census(user),
            "may_edit_processes": user is not None and policy.can_edit_processes(user),
        }

    @app.route("/assets/<path:filename>")
    @policy.public
    def assets(filename: str) -> Any:
        if filename in STATIC_FILES:
            return send_from_directory(ASSETS, filename, max_age=3600)
        if filename in NPM_FILES:
            found = NPM_FILES[filename]
            return send_from_directory(found.parent, found.name, max_age=3600)
        if filename in OWN_FILES:
            # Revalidated on each use (an unchanged file answers 304), so a deploy's new script is seen at once.
            return send_from_directory(OWN_FILES_DIR, filename, max_age=0)
        if filename.startswith(("fonts/", "images/")) or filename == "manifest.json":
            return send_from_directory(ASSETS / "assets", filename, max_age=3600)
        abort(404)

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> Any:
        return render_template(
            "error.html",
            title="Your session has expired",
            message=(
                "For your security, the form could not be sent. Go back, reload the page and try again; "
                "nothing was saved."
            ),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Any:
        titles = {
            403: "You cannot see this page",
            404: "Page not found",
            405: "Page not found",
            413: "What you sent is too large",
        }
        title = titles.get(err.code or 500, err.name)
        if err.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            return render_template(
                "error.html",
                title=title,
                message=(
                    f"Compass takes at most {limit // (1024 * 1024)} MB in one go (a diagram file at most "
                    f"{specs.MAX_DIAGRAM_BYTES // (1024 * 1024)} MB). Nothing was saved: go back and choose a "
                    "smaller file."
                ),
            ), 413
        return render_template(
            "error.html",
            title=title,
            message=err.description if err.code != 404 else ("If you typed the web address, check it is correct."),
        ), err.code

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Any:
        # Nobody ever sees a stack trace: log it, roll back, and say so in plain words.
        if isinstance(err, HTTPException):
            return http_error(err)
        app.logger.exception("unexpected error")
        db.session.rollback()
        return render_template(
            "error.html",
            title="Sorry, there is a problem with the service",
            message=("Nothing you sent was saved. Try again later; if it keeps happening, tell the service desk."),
        ), 500
