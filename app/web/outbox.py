"""The managers' view of the outbox: deliveries that failed for good, and e-mails kept in the local sink."""

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import delivery
from app.services.errors import NotFound

bp = Blueprint("outbox", __name__)


@bp.route("/outbox")
@login_required
@policy.declare("can_see_outbox")
def deliveries() -> Any:
    if not policy.can_see_outbox(current_user):
        abort(403, "Only team and service managers see the deliveries.")
    show_referrer = policy.can_see_referrer(current_user)
    return render_template(
        "outbox/deliveries.html",
        failed=delivery.failed_items(show_referrer),
        sink=delivery.sink_items(show_referrer),
        max_attempts=delivery.MAX_ATTEMPTS,
    )


@bp.route("/letters-to-post")
@login_required
@policy.declare("can_post_letters")
def letters_to_post() -> Any:
    if not policy.can_post_letters(current_user):
        abort(403, "Business support prints and posts the letters.")
    return render_template(
        "outbox/letters_to_post.html", letters=delivery.letters_to_post(policy.can_see_referrer(current_user))
    )


@bp.route("/letters-to-post/<int:item_id>/posted", methods=["POST"])
@login_required
@policy.declare("can_post_letters")
def letter_posted(item_id: int) -> Any:
    if not policy.can_post_letters(current_user):
        abort(403, "Business support prints and posts the letters.")
    try:
        item = delivery.mark_posted(current_user.id, item_id)
    except NotFound:
        abort(404)
    flash(f"Posted: {item.subject}", "success")
    return redirect(url_for("outbox.letters_to_post"))
