"""Sanity checks on app responses that CometBFT itself enforces before it trusts them."""

from __future__ import annotations

from collections.abc import Sequence

from cometsync.abci.errors import ABCIInconsistent
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2


def check_finalize_block_response(
    request_txs: Sequence[bytes],
    response: abci_pb2.ResponseFinalizeBlock,
    app_hash_size: int | None = None,
) -> None:
    """Raise `ABCIInconsistent` unless there is one tx result per tx and every validator update is usable.

    `app_hash_size`, when given, is the app hash length the app is known to produce (8 for kvstore,
    32 for most SDK chains); CometBFT accepts any length, so the default checks none.
    """
    if len(response.tx_results) != len(request_txs):
        raise ABCIInconsistent(
            f"FinalizeBlock returned {len(response.tx_results)} tx results for a block of "
            f"{len(request_txs)} txs; the app must return exactly one result per tx"
        )
    if app_hash_size is not None and len(response.app_hash) != app_hash_size:
        raise ABCIInconsistent(
            f"FinalizeBlock returned a {len(response.app_hash)}-byte app hash, expected {app_hash_size} bytes"
        )
    for index, update in enumerate(response.validator_updates):
        if update.power < 0:
            raise ABCIInconsistent(
                f"FinalizeBlock validator update {index} has negative power {update.power}"
            )
        if update.pub_key.WhichOneof("sum") is None:
            raise ABCIInconsistent(f"FinalizeBlock validator update {index} has no public key")
