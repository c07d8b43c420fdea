"""The managers' view of the outbox: deliveries that failed for good, and e-mails kept in the local sink."""

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from app import policy
from app.services import delivery

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
