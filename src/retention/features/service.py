"""Service tickets (服务工单): complaints, opinions, inquiries, repairs, praise, channel,
satisfaction, open tickets and time-limit breaches, from every channel including 95598.

Satisfaction and time-limit results are known once a ticket is closed, so they count by the
closing time; a ticket still open at T is open, whatever happened to it later.
"""

from __future__ import annotations

import numpy as np

from retention.features.grid import safe_ratio
from retention.features.sources import Columns, Sources

GROUP_TABLE = "service_tickets"


def features(src: Sources) -> Columns:
    tickets = src.dataset.service_tickets
    if tickets is None:
        return {}
    grid = src.grid

    def count(months: int, where: tuple[str, str] | None = None) -> np.ndarray:
        index = src.events(GROUP_TABLE, "opened_at", where)
        assert index is not None
        return index.count(start=grid.seconds_before(months=months))

    opened = src.events(GROUP_TABLE, "opened_at")
    closed = src.events(GROUP_TABLE, "closed_at")
    assert opened is not None and closed is not None
    year_ago = grid.seconds_before(months=12)
    scored = np.asarray(tickets["satisfaction"].astype(float))
    has_score = (~np.isnan(scored)).astype(float)
    n_scored = closed.total(has_score, start=year_ago)
    breached = np.asarray(tickets["sla_met"].astype("boolean") == False, dtype=float)  # noqa: E712
    low = np.where(np.isnan(scored), 0.0, (scored <= 3).astype(float))

    return {
        # Last month's tickets: trouble that starts a month or two before an exit shows here
        # at full strength, where the 3- to 12-month counts mix it with older tickets.
        "complaints_1m": count(1, ("category", "complaint")),
        "opinions_1m": count(1, ("category", "opinion")),
        "inquiries_1m": count(1, ("category", "inquiry")),
        "complaints_3m": count(3, ("category", "complaint")),
        "complaints_12m": count(12, ("category", "complaint")),
        "opinions_6m": count(6, ("category", "opinion")),
        "inquiries_3m": count(3, ("category", "inquiry")),
        "repairs_6m": count(6, ("category", "repair")),
        "praise_12m": count(12, ("category", "praise")),
        "hotline_share_6m": safe_ratio(count(6, ("channel", "hotline_95598")), count(6)),
        "satisfaction_avg_12m": safe_ratio(
            closed.total(np.nan_to_num(scored), start=year_ago), n_scored
        ),
        "low_satisfaction_12m": closed.total(low, start=year_ago),
        "open_tickets": opened.count() - closed.count(),
        "sla_breaches_12m": closed.total(breached, start=year_ago),
    }
