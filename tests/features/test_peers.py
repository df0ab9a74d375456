"""An account scored on its own, with a batch's peer medians, gets the batch's features."""

from __future__ import annotations

import pandas as pd

from retention.data.dataset import Dataset
from retention.features.catalogue import load_catalogue
from retention.features.snapshot import build_features, peer_medians


def test_a_few_accounts_with_the_batch_peers_get_exactly_the_batch_features(simulation) -> None:  # type: ignore[no-untyped-def]
    # Given the whole portfolio's features at T and their peer medians
    dataset = Dataset(**simulation.tables)
    catalogue = load_catalogue()
    when = pd.Timestamp("2026-08-01")
    full = build_features(dataset, when, catalogue)
    peers = peer_medians(
        full, dataset.customers.set_index("customer_id")["industry_code"], catalogue
    )
    assert set(peers["industry_code"]) >= {"*"} and (peers["peers"] > 0).all()
    # when three accounts are built from their own rows only, with those medians
    chosen = list(full.index[[0, len(full) // 2, len(full) - 1]])
    alone = build_features(dataset.only(chosen), when, catalogue, peers=peers)

    # then every column is what the batch computed for them (categories compare by value:
    # a category's level list depends on the rows present; the model encodes by name)
    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype(
            {c: object for c in frame if isinstance(frame[c].dtype, pd.CategoricalDtype)}
        )

    pd.testing.assert_frame_equal(plain(alone.sort_index()), plain(full.loc[sorted(chosen)]))
    # and without the medians the peer comparisons would differ (the test can fail)
    bare = build_features(dataset.only(chosen), when, catalogue)
    peer_columns = [f.name for f in catalogue.features if f.peer_of]
    assert not bare[peer_columns].equals(full.loc[bare.index, peer_columns])
