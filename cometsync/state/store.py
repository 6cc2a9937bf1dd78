"""StateStore: CometBFT v0.38's `state.db` keys and encodings (state, validators/params by height, responses).

Validator sets are written in full only at change heights and checkpoints (every 100000 heights), other
heights point at them by `last_height_changed`, exactly as Go does, so each side can read the other's db.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.state import types_pb2 as state_pb2
from cometsync.proto.wire import WireFormatError, message_field, read_varint, varint_field
from cometsync.state.state import State
from cometsync.store.db import Database, DatabaseOwner, PendingWrite, open_db
from cometsync.store.errors import DatabaseCorrupt, StoreError
from cometsync.types import ConsensusParams, Genesis, ValidatorSet
from cometsync.types.errors import TypesError

STATE_KEY = b"stateKey"
OFFLINE_STATE_SYNC_HEIGHT_KEY = b"offlineStateSyncHeightKey"
"""Written by CometBFT's `BootstrapState` (offline state sync): the height the stores were bootstrapped to."""
LAST_ABCI_RESPONSE_KEY = b"lastABCIResponseKey"
VAL_SET_CHECKPOINT_INTERVAL = 100000


def validators_key(height: int) -> bytes:
    return b"validatorsKey:%d" % height


def consensus_params_key(height: int) -> bytes:
    return b"consensusParamsKey:%d" % height


def abci_responses_key(height: int) -> bytes:
    return b"abciResponsesKey:%d" % height


def _last_stored_height_for(height: int, last_height_changed: int) -> int:
    return max(height - height % VAL_SET_CHECKPOINT_INTERVAL, last_height_changed)


class StateStore(DatabaseOwner):
    """Reads and writes `<home>/data/state.db`; every write is one synced batch."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> StateStore:
        return cls(open_db(path))

    def _get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    # -- state -----------------------------------------------------------------------------------

    def load(self) -> State | None:
        raw = self._get(STATE_KEY)
        if not raw:
            return None
        try:
            return State.from_bytes(raw)
        except (DecodeError, TypesError, ValueError) as exc:
            raise self._db.report(
                DatabaseCorrupt(f"{self._db.path}: cannot decode the state stored under 'stateKey': {exc}")
            ) from exc

    def load_offline_state_sync_height(self) -> int:
        """The height CometBFT's offline state sync bootstrapped the stores to, 0 when none (a zig-zag
        varint as Go's `int64ToBytes`)."""
        raw = self._get(OFFLINE_STATE_SYNC_HEIGHT_KEY)
        if not raw:
            return 0
        try:
            encoded, _ = read_varint(raw, 0, len(raw))
        except WireFormatError:
            raise self._db.report(
                DatabaseCorrupt(f"{self._db.path}: cannot decode {OFFLINE_STATE_SYNC_HEIGHT_KEY.decode()!r}")
            ) from None
        return (encoded >> 1) ^ -(encoded & 1)

    def load_or_genesis(self, genesis: Genesis) -> State:
        """The saved state, or the genesis state when nothing was saved yet (not written until `save`)."""
        state = self.load()
        return state if state is not None else State.from_genesis(genesis)

    def save(self, state: State, finalize_response: abci_pb2.ResponseFinalizeBlock | None = None) -> None:
        """`stage_save`, written at once."""
        self.stage_save(state, finalize_response).write()

    def stage_save(
        self, state: State, finalize_response: abci_pb2.ResponseFinalizeBlock | None = None
    ) -> PendingWrite:
        """Go's `Save`: the validators for height+1 (and for the first height), params for height, state;
        with `finalize_response`, also Go's `SaveFinalizeBlockResponse` of that block, in the same batch.
        Encoded now; the returned `write()` writes it (on any thread)."""
        next_height = state.last_block_height + 1
        with self._db.staged_batch() as (batch, pending):
            if finalize_response is not None:
                self._put_finalize_response(batch, state.last_block_height, finalize_response)
            if next_height == 1:
                next_height = state.initial_height
                batch.put(
                    validators_key(next_height),
                    self._validators_info(next_height, next_height, state.validators),
                )
            batch.put(
                validators_key(next_height + 1),
                self._validators_info(
                    next_height + 1, state.last_height_validators_changed, state.next_validators
                ),
            )
            params_info = state_pb2.ConsensusParamsInfo(
                last_height_changed=state.last_height_consensus_params_changed
            )
            if state.last_height_consensus_params_changed == next_height:
                params_info.consensus_params.CopyFrom(state.consensus_params.to_proto())
            batch.put(consensus_params_key(next_height), params_info.SerializeToString())
            batch.put(STATE_KEY, state.to_bytes())
        return pending

    @staticmethod
    def _validators_info(height: int, last_height_changed: int, validators: ValidatorSet) -> bytes:
        if last_height_changed > height:
            raise StoreError("lastHeightChanged cannot be greater than ValidatorsInfo height")
        changed = varint_field(2, last_height_changed)  # ValidatorsInfo, the set's cached bytes spliced in
        if height == last_height_changed or height % VAL_SET_CHECKPOINT_INTERVAL == 0:
            return message_field(1, validators.to_proto_bytes()) + changed
        return changed

    # -- validators and params by height ---------------------------------------------------------

    def _validators_info_at(self, height: int) -> state_pb2.ValidatorsInfo | None:
        raw = self._get(validators_key(height))
        if not raw:
            return None
        try:
            info: state_pb2.ValidatorsInfo = state_pb2.ValidatorsInfo.FromString(raw)
        except DecodeError as exc:
            raise self._db.report(
                DatabaseCorrupt(f"{self._db.path}: cannot decode validators at height {height}: {exc}")
            ) from exc
        return info

    def load_validators(self, height: int) -> ValidatorSet:
        """The validator set of `height`, replaying priorities from the last full copy when needed."""
        info = self._validators_info_at(height)
        if info is None:
            raise StoreError(f"no validator set stored for height {height}")
        if info.HasField("validator_set"):
            return ValidatorSet.from_proto(info.validator_set)
        stored_height = _last_stored_height_for(height, info.last_height_changed)
        stored = self._validators_info_at(stored_height)
        if stored is None or not stored.HasField("validator_set"):
            raise StoreError(f"couldn't find validators at height {stored_height} (for height {height})")
        validators = ValidatorSet.from_proto(stored.validator_set)
        if height > stored_height:
            validators.increment_proposer_priority(height - stored_height)
        return validators

    def load_consensus_params(self, height: int) -> ConsensusParams:
        info = self._params_info_at(height)
        if not info.HasField("consensus_params"):
            info = self._params_info_at(info.last_height_changed)
        return ConsensusParams.from_proto(info.consensus_params)

    def _params_info_at(self, height: int) -> state_pb2.ConsensusParamsInfo:
        raw = self._get(consensus_params_key(height))
        if not raw:
            raise StoreError(f"no consensus params stored for height {height}")
        try:
            info: state_pb2.ConsensusParamsInfo = state_pb2.ConsensusParamsInfo.FromString(raw)
        except DecodeError as exc:
            raise self._db.report(
                DatabaseCorrupt(f"{self._db.path}: cannot decode consensus params at height {height}: {exc}")
            ) from exc
        return info

    # -- FinalizeBlock responses -----------------------------------------------------------------

    @staticmethod
    def _put_finalize_response(batch: Any, height: int, response: abci_pb2.ResponseFinalizeBlock) -> None:
        """`abciResponsesKey:<h>` (served by RPC) and `lastABCIResponseKey` (read by the handshake)."""
        last = state_pb2.ABCIResponsesInfo(height=height)
        last.response_finalize_block.CopyFrom(response)
        batch.put(abci_responses_key(height), response.SerializeToString())
        batch.put(LAST_ABCI_RESPONSE_KEY, last.SerializeToString())

    def load_finalize_block_response(self, height: int) -> abci_pb2.ResponseFinalizeBlock | None:
        raw = self._get(abci_responses_key(height))
        if raw is None:
            return None
        try:
            response: abci_pb2.ResponseFinalizeBlock = abci_pb2.ResponseFinalizeBlock.FromString(raw)
        except DecodeError as exc:
            raise self._db.report(
                DatabaseCorrupt(
                    f"{self._db.path}: cannot decode the FinalizeBlock response of height {height}: {exc}"
                )
            ) from exc
        return response

    def load_last_finalize_block_response(self, height: int) -> abci_pb2.ResponseFinalizeBlock:
        """The most recent saved response, which must be for `height`."""
        raw = self._get(LAST_ABCI_RESPONSE_KEY)
        if not raw:
            raise StoreError("no last FinalizeBlock response has been saved")
        try:
            info = state_pb2.ABCIResponsesInfo.FromString(raw)
        except DecodeError as exc:
            raise self._db.report(
                DatabaseCorrupt(f"{self._db.path}: cannot decode the last FinalizeBlock response: {exc}")
            ) from exc
        if info.height != height:
            raise StoreError(f"expected the FinalizeBlock response of height {height}, found {info.height}")
        last: abci_pb2.ResponseFinalizeBlock = info.response_finalize_block
        return last
