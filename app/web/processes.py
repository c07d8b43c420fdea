"""Process owners' pages: the flows, the modeller for a flow's draft, upload and download of its diagram,
the replay and the deploy. The version history, the diff and the migration of running cases are in
app/web/versions.py; the forms editor in app/web/form_editor.py."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import handlers
from app import policy
from app.engine import specs
from app.engine.specs import BundleRefused, Problem
from app.roles import ROLES
from app.services import process_versions
from app.services.process_versions import DeployRefused, DraftChanged, NoDraft
from app.web.converters import whole_number

bp = Blueprint("processes", __name__, url_prefix="/processes")


def _allowed(flow: str | None = None) -> None:
    if not policy.can_edit_processes(current_user):
        abort(403, "The diagrams and forms are changed by process owners.")
    if flow is not None and not process_versions.known_flow(flow):
        abort(404)


def _version_posted() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return -1


@bp.route("")
@login_required
@policy.declare("can_edit_processes")
def flows() -> Any:
    _allowed()
    return render_template(
        "processes/flows.html",
        rows=process_versions.flows(),
        done=request.args.get("done"),
        # The version history and migration pages, when they are part of this build.
        blueprints=set(current_app.blueprints),
    )


@bp.route("/<flow>/draft", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def start_draft(flow: str) -> Any:
    _allowed(flow)
    process_versions.start_draft(flow, current_user)
    return redirect(url_for("processes.edit", flow=flow))


def _problems_by_element(problems: list[Problem]) -> dict[str, list[str]]:
    marks: dict[str, list[str]] = {}
    for problem in problems:
        marks.setdefault(problem.element_id, []).append(problem.message)
    return marks


def _editor(
    flow: str,
    draft: Any,
    problems: list[Problem],
    *,
    xml: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> Any:
    forms = sorted(draft.forms)
    page = render_template(
        "processes/edit.html",
        flow=flow,
        name=process_versions.FLOWS[flow],
        draft=draft,
        xml=xml if xml is not None else draft.files.get(process_versions.diagram_name(flow), ""),
        problems=problems,
        marks_json=json.dumps(_problems_by_element(problems)),
        choices_json=json.dumps(
            {
                "forms": forms,
                "handlers": sorted(handlers.names()),
                "roles": [{"id": role.id, "name": role.title} for role in ROLES.values()],
            }
        ),
        errors=errors or [],
        error_items=[{"text": message, "href": "#modeller"} for message in errors or []],
        saved=saved,
        base_number=process_versions.number_of(draft.base_bundle_id),
        blueprints=set(current_app.blueprints),
    )
    return page, status


@bp.route("/<flow>/edit", methods=["GET", "POST"])
@login_required
@policy.declare("can_edit_processes")
def edit(flow: str) -> Any:
    _allowed(flow)
    draft = process_versions.draft_of(flow)
    if draft is None:
        if request.method == "POST":
            return _no_draft(flow)
        return render_template("processes/no_draft.html", flow=flow, name=process_versions.FLOWS[flow])
    if request.method == "GET":
        return _editor(flow, draft, process_versions.problems_of(draft))
    xml = request.form.get("xml", "")
    if not xml.strip():
        return _editor(flow, draft, [], errors=["The diagram was not sent: try saving again"], status=400)
    try:
        checked = process_versions.save_diagram(flow, xml, _version_posted(), current_user)
    except BundleRefused as refused:
        # Nothing was saved; the diagram as it was sent stays on the page to be put right.
        return _editor(flow, draft, [], xml=xml, errors=[str(p) for p in refused.problems], status=400)
    except NoDraft:
        return _no_draft(flow)
    except DraftChanged:
        return _editor(
            flow,
            draft,
            process_versions.problems_of(draft),
            xml=xml,
            errors=[CHANGED],
            status=409,
        )
    return _editor(flow, checked.draft, checked.problems, saved=True)


# Saving over a newer draft: nothing of theirs is lost, and the diagram sent stays on the page.
CHANGED = (
    "Someone else saved this draft after you opened it, so yours was not saved. Your diagram is still on "
    "the page: download it to keep it, then reload the page to see theirs."
)


def _no_draft(flow: str) -> Any:
    return render_template(
        "processes/no_draft.html",
        flow=flow,
        name=process_versions.FLOWS[flow],
        error="There is no draft of this flow any more: it was deployed or discarded. Start a new draft.",
    ), 409


@bp.route("/<flow>/upload", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def upload(flow: str) -> Any:
    _allowed(flow)
    draft = process_versions.draft_of(flow)
    if draft is None:
        return _no_draft(flow)
    sent = request.files.get("diagram")
    if sent is None or not sent.filename:
        return _editor(flow, draft, process_versions.problems_of(draft), errors=["Choose a .bpmn file"], status=400)
    # Read no more than one byte past the limit: a larger file is refused by its length alone.
    raw = sent.stream.read(specs.MAX_DIAGRAM_BYTES + 1)
    try:
        text = specs.read_upload(raw, sent.filename)
        checked = process_versions.save_diagram(flow, text, _version_posted(), current_user)
    except BundleRefused as refused:
        messages = [f"The file was not loaded: {p.message}" for p in refused.problems]
        return _editor(flow, draft, process_versions.problems_of(draft), errors=messages, status=400)
    except NoDraft:
        return _no_draft(flow)
    except DraftChanged:
        return _editor(flow, draft, process_versions.problems_of(draft), errors=[CHANGED], status=409)
    return _editor(flow, checked.draft, checked.problems, saved=True)


@bp.route("/<flow>/download")
@login_required
@policy.declare("can_edit_processes")
def download(flow: str) -> Any:
    """The draft's diagram, or a version's (?version=N), as a .bpmn file for other modellers. With neither
    named: the draft's if there is one, else the live version's."""
    _allowed(flow)
    wanted = request.args.get("version")
    if wanted is None:
        live_number = process_versions.number_of(process_versions.live_bundle_id(flow))
        wanted = "draft" if process_versions.draft_of(flow) is not None else str(live_number or "")
    if wanted == "draft":
        draft = process_versions.draft_of(flow)
        if draft is None:
            abort(404)
        files, label = draft.files, "draft"
    else:
        number = whole_number(wanted, 8)
        bundle = process_versions.version(flow, number) if number is not None else None
        if bundle is None:
            abort(404)
        files, label = bundle.files, f"v{bundle.number}"
    xml = files.get(process_versions.diagram_name(flow))
    if xml is None:
        abort(404)
    return Response(
        xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{flow}-{label}.bpmn"'},
    )


@bp.route("/<flow>/discard", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def discard(flow: str) -> Any:
    _allowed(flow)
    try:
        process_versions.discard(flow, _version_posted(), current_user)
    except NoDraft:
        return redirect(url_for("processes.flows"))
    except DraftChanged:
        draft = process_versions.draft_of(flow)
        if draft is None:
            return redirect(url_for("processes.flows"))
        message = "Someone saved this draft after you opened it, so it was not discarded: look at their changes first."
        return _editor(flow, draft, process_versions.problems_of(draft), errors=[message], status=409)
    return redirect(url_for("processes.flows", done=f"The draft of {process_versions.FLOWS[flow]} was discarded"))


def _deploy_page(flow: str, draft: Any, *, note: str = "", errors: list[str] | None = None, status: int = 200) -> Any:
    problems = process_versions.problems_of(draft, trial=True)
    fresh = draft.replay_hash is not None and draft.replay_hash == process_versions.draft_hash(draft)
    return render_template(
        "processes/deploy.html",
        flow=flow,
        name=process_versions.FLOWS[flow],
        draft=draft,
        problems=problems,
        replay_fresh=fresh,
        report=draft.replay_report if fresh else None,
        note=note,
        errors=errors or [],
        error_items=[{"text": message, "href": "#note"} for message in errors or []],
    ), status


@bp.route("/<flow>/deploy", methods=["GET", "POST"])
@login_required
@policy.declare("can_edit_processes")
def deploy(flow: str) -> Any:
    _allowed(flow)
    draft = process_versions.draft_of(flow)
    if draft is None:
        return _no_draft(flow) if request.method == "POST" else redirect(url_for("processes.edit", flow=flow))
    if request.method == "GET":
        return _deploy_page(flow, draft)
    note = request.form.get("note", "")
    try:
        bundle = process_versions.deploy(flow, note, _version_posted(), current_user)
    except DeployRefused as refused:
        return _deploy_page(flow, draft, note=note, errors=refused.messages, status=400)
    except NoDraft:
        return _no_draft(flow)
    except DraftChanged:
        return _deploy_page(
            flow,
            draft,
            note=note,
            errors=["Someone changed the draft after this page was drawn: check it again before deploying"],
            status=409,
        )
    done = f"Version {bundle.number} of {process_versions.FLOWS[flow]} is live: new cases start on it"
    return redirect(url_for("processes.flows", done=done))


@bp.route("/<flow>/replay", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def replay(flow: str) -> Any:
    _allowed(flow)
    draft = process_versions.draft_of(flow)
    if draft is None:
        return _no_draft(flow)
    try:
        process_versions.replay(flow, _version_posted(), current_user)
    except DeployRefused as refused:
        return _deploy_page(flow, draft, errors=refused.messages, status=400)
    except NoDraft:
        return _no_draft(flow)
    except DraftChanged:
        return _deploy_page(
            flow, draft, errors=["Someone changed the draft after this page was drawn: replay it again"], status=409
        )
    return redirect(url_for("processes.deploy", flow=flow))
