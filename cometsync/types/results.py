"""LastResultsHash: merkle over the deterministic part of each ExecTxResult (`types/results.go`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.wire import bytes_field, varint_field
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.rpc_json import JSONObject, b64_bytes, int_of


@dataclass(frozen=True, slots=True)
class DeterministicTxResult:
    """Only code, data, gas_wanted and gas_used enter the hash; logs and events do not."""

    code: int = 0
    data: bytes = b""
    gas_wanted: int = 0
    gas_used: int = 0

    def encode(self) -> bytes:
        """`ExecTxResult{1 code, 2 data, 5 gas_wanted, 6 gas_used}` proto bytes."""
        return (
            varint_field(1, self.code)
            + bytes_field(2, self.data)
            + varint_field(5, self.gas_wanted)
            + varint_field(6, self.gas_used)
        )

    @classmethod
    def from_abci(cls, pb: abci_pb2.ExecTxResult) -> DeterministicTxResult:
        return cls(pb.code, pb.data, pb.gas_wanted, pb.gas_used)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> DeterministicTxResult:
        """An entry of `/block_results`' `txs_results`."""
        return cls(
            int_of(obj.get("code")),
            b64_bytes(obj.get("data")),
            int_of(obj.get("gas_wanted")),
            int_of(obj.get("gas_used")),
        )


def results_hash(results: Sequence[DeterministicTxResult]) -> bytes:
    """The next header's `last_results_hash` (SHA-256("") when the block had no txs)."""
    return hash_from_byte_slices([result.encode() for result in results])
