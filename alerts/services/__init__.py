"""Alert services (all writes, sends and enqueues). See each module:
lifecycle (raise/ack/resolve/escalate/cleanup), notify (routing, throttle),
delivery (sending + attempts), channels (manage/test), events (from signals)."""

from alerts.services.channels import (
    channel_create,
    channel_ensure_default,
    channel_test,
    channel_update,
)
from alerts.services.delivery import deliveries_requeue, delivery_attempt
from alerts.services.events import handle_auto_disabled, handle_health_changed, handle_run_finished
from alerts.services.lifecycle import (
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    alerts_cleanup,
    alerts_escalate,
    alerts_resolve_recovered,
)
from alerts.services.notify import notify

__all__ = [
    "alert_acknowledge",
    "alert_raise",
    "alert_resolve",
    "alerts_cleanup",
    "alerts_escalate",
    "alerts_resolve_recovered",
    "channel_create",
    "channel_ensure_default",
    "channel_test",
    "channel_update",
    "deliveries_requeue",
    "delivery_attempt",
    "handle_auto_disabled",
    "handle_health_changed",
    "handle_run_finished",
    "notify",
]
