"""CometBFT v0.38's example kvstore state machine, request for request, without any I/O of its own.

Same tx formats, CheckTx codes, ExecTxResults (incl. events), validator-update rules and app hash (the
zig-zag varint of the number of txs processed, in 8 bytes) as Go's `abci/example/kvstore`. Everything a
block changes is staged by FinalizeBlock and written by Commit in one atomic `KVStorage.write`.

Unlike Go's, FinalizeBlock always starts from the last COMMITTED state and Info/Query report only committed
state: a node that crashed between FinalizeBlock and Commit replays that height, and the repeated
FinalizeBlock replaces the first one's uncommitted results instead of adding to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cometsync.abci.kvstore.store import KVStorage
from cometsync.abci.kvstore.txs import (
    VALIDATOR_PREFIX,
    InvalidTxFormat,
    is_valid_kv_tx,
    is_validator_tx,
    parse_validator_tx,
    split_key_value,
)
from cometsync.abci.kvstore.validators import (
    InvalidValidator,
    decode_delimited,
    encode_delimited,
    public_key_proto,
    raw_key_and_address,
    storage_key,
)
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2
from cometsync.proto.wire import zigzag_varint

STATE_KEY = b"stateKey"
KV_PAIR_PREFIX = b"kvPairKey:"
APP_VERSION = 1
ABCI_VERSION = "2.0.0"
CODE_OK = 0
CODE_INVALID_TX_FORMAT = 2
APP_HASH_SIZE = 8


class KVStoreError(Exception):
    """A request Go's kvstore would panic on (bad validator tx in a block, unknown misbehaving validator)."""


def go_put_varint(value: int, size: int = APP_HASH_SIZE) -> bytes:
    """Go's `binary.PutVarint` into a zeroed buffer of `size` bytes (zig-zag, then base-128 varint)."""
    out = zigzag_varint(value)
    if len(out) > size:
        raise KVStoreError(f"varint of {value} does not fit in {size} bytes")
    return bytes(out) + bytes(size - len(out))


@dataclass(frozen=True)
class AppState:
    """The kvstore's persisted state, stored under `stateKey` as Go's `json.Marshal(State)` output."""

    size: int = 0
    height: int = 0

    def app_hash(self) -> bytes:
        return go_put_varint(self.size)

    def to_json(self) -> bytes:
        return json.dumps({"size": self.size, "height": self.height}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> AppState:
        if not data:
            return cls()
        fields = json.loads(data)
        return cls(size=int(fields.get("size", 0)), height=int(fields.get("height", 0)))


@dataclass
class _PendingBlock:
    """What FinalizeBlock decided and Commit will persist."""

    state: AppState
    validator_updates: list[abci_pb2.ValidatorUpdate] = field(default_factory=list)
    kv_txs: list[bytes] = field(default_factory=list)


def _exec_tx_result(key: bytes, value: bytes) -> abci_pb2.ExecTxResult:
    """The result Go's kvstore gives every tx: code 0 and the same two `app` events."""

    def app_event(creator: str, shown: bytes) -> abci_pb2.Event:
        text = shown.decode("utf-8", errors="replace")
        return abci_pb2.Event(
            type="app",
            attributes=[
                abci_pb2.EventAttribute(key="creator", value=creator, index=True),
                abci_pb2.EventAttribute(key="key", value=text, index=True),
                abci_pb2.EventAttribute(key="index_key", value="index is working", index=True),
                abci_pb2.EventAttribute(key="noindex_key", value="index is working", index=False),
            ],
        )

    return abci_pb2.ExecTxResult(
        code=CODE_OK, events=[app_event("Cosmoshi Netowoko", key), app_event("Cosmoshi", value)]
    )


class KVStoreApp:
    """The kvstore application; one instance per database, calls must be serialised by the caller."""

    def __init__(self, storage: KVStorage, retain_blocks: int = 0) -> None:
        self._storage = storage
        self._retain_blocks = retain_blocks
        self._committed = AppState.from_json(storage.get(STATE_KEY))
        self._pending = _PendingBlock(state=self._committed)
        self._pub_keys_by_address: dict[bytes, keys_pb2.PublicKey] = {}
        for _, stored in storage.items_with_prefix(VALIDATOR_PREFIX):
            pub_key = decode_delimited(stored).pub_key
            self._pub_keys_by_address[raw_key_and_address(pub_key)[1]] = pub_key

    @property
    def state(self) -> AppState:
        """The last committed state (what Info reports)."""
        return self._committed

    def echo(self, req: abci_pb2.RequestEcho) -> abci_pb2.ResponseEcho:
        return abci_pb2.ResponseEcho(message=req.message)

    def flush(self, req: abci_pb2.RequestFlush) -> abci_pb2.ResponseFlush:
        return abci_pb2.ResponseFlush()

    def info(self, req: abci_pb2.RequestInfo) -> abci_pb2.ResponseInfo:
        return abci_pb2.ResponseInfo(
            data=f'{{"size":{self._committed.size}}}',
            version=ABCI_VERSION,
            app_version=APP_VERSION,
            last_block_height=self._committed.height,
            last_block_app_hash=self._committed.app_hash(),
        )

    def init_chain(self, req: abci_pb2.RequestInitChain) -> abci_pb2.ResponseInitChain:
        """Store the genesis validators at once (as Go does) and return the current app hash."""
        writes: dict[bytes, bytes | None] = {}
        address_changes = self._stage_validator_updates(list(req.validators), writes)
        self._storage.write(writes)
        self._apply_address_changes(address_changes)
        return abci_pb2.ResponseInitChain(app_hash=self._committed.app_hash())

    def check_tx(self, req: abci_pb2.RequestCheckTx) -> abci_pb2.ResponseCheckTx:
        if is_validator_tx(req.tx):
            try:
                parse_validator_tx(req.tx)
            except InvalidTxFormat:
                return abci_pb2.ResponseCheckTx(code=CODE_INVALID_TX_FORMAT)
        elif not is_valid_kv_tx(req.tx):
            return abci_pb2.ResponseCheckTx(code=CODE_INVALID_TX_FORMAT)
        return abci_pb2.ResponseCheckTx(code=CODE_OK, gas_wanted=1)

    def _tx_ok(self, tx: bytes) -> bool:
        return self.check_tx(abci_pb2.RequestCheckTx(tx=tx)).code == CODE_OK

    def prepare_proposal(self, req: abci_pb2.RequestPrepareProposal) -> abci_pb2.ResponsePrepareProposal:
        """Drop txs CheckTx rejects and rewrite the first `:` of the others to `=`."""
        return abci_pb2.ResponsePrepareProposal(
            txs=[tx.replace(b":", b"=", 1) for tx in req.txs if self._tx_ok(tx)]
        )

    def process_proposal(self, req: abci_pb2.RequestProcessProposal) -> abci_pb2.ResponseProcessProposal:
        status = abci_pb2.ResponseProcessProposal.ACCEPT
        if not all(self._tx_ok(tx) for tx in req.txs):
            status = abci_pb2.ResponseProcessProposal.REJECT
        return abci_pb2.ResponseProcessProposal(status=status)

    def extend_vote(self, req: abci_pb2.RequestExtendVote) -> abci_pb2.ResponseExtendVote:
        return abci_pb2.ResponseExtendVote()

    def verify_vote_extension(
        self, req: abci_pb2.RequestVerifyVoteExtension
    ) -> abci_pb2.ResponseVerifyVoteExtension:
        return abci_pb2.ResponseVerifyVoteExtension(status=abci_pb2.ResponseVerifyVoteExtension.ACCEPT)

    def _punishment(self, misbehavior: abci_pb2.Misbehavior) -> abci_pb2.ValidatorUpdate:
        """A duplicate-vote offender loses one unit of voting power."""
        address = misbehavior.validator.address
        pub_key = self._pub_keys_by_address.get(address)
        if pub_key is None:
            raise KVStoreError(f"wanted to punish val {address.hex().upper()} but can't find it")
        return abci_pb2.ValidatorUpdate(pub_key=pub_key, power=misbehavior.validator.power - 1)

    @staticmethod
    def _validator_tx_update(tx: bytes) -> abci_pb2.ValidatorUpdate:
        try:
            parsed = parse_validator_tx(tx)
            update = abci_pb2.ValidatorUpdate(
                pub_key=public_key_proto(parsed.key_type, parsed.pub_key), power=parsed.power
            )
            raw_key_and_address(update.pub_key)
        except (InvalidTxFormat, InvalidValidator) as exc:
            raise KVStoreError(f"invalid validator tx in block: {exc}") from exc
        return update

    def finalize_block(self, req: abci_pb2.RequestFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
        """Execute a decided block in memory on top of the committed state; nothing is persisted before
        Commit, and a repeated FinalizeBlock replaces the pending results of an earlier one."""
        pending = _PendingBlock(
            state=AppState(size=self._committed.size + len(req.txs), height=req.height),
            validator_updates=[
                self._punishment(m) for m in req.misbehavior if m.type == abci_pb2.DUPLICATE_VOTE
            ],
        )
        results = []
        for tx in req.txs:
            if is_validator_tx(tx):
                pending.validator_updates.append(self._validator_tx_update(tx))
            else:
                pending.kv_txs.append(tx)
            results.append(_exec_tx_result(*split_key_value(tx)))
        self._pending = pending
        return abci_pb2.ResponseFinalizeBlock(
            tx_results=results,
            validator_updates=pending.validator_updates,
            app_hash=pending.state.app_hash(),
        )

    def commit(self, req: abci_pb2.RequestCommit) -> abci_pb2.ResponseCommit:
        """Persist the finalized block's validators, key/values and state in one atomic write."""
        pending = self._pending
        writes: dict[bytes, bytes | None] = {}
        address_changes = self._stage_validator_updates(pending.validator_updates, writes)
        for tx in pending.kv_txs:
            key, value = split_key_value(tx)
            writes[KV_PAIR_PREFIX + key] = value
        writes[STATE_KEY] = pending.state.to_json()
        self._storage.write(writes)
        self._apply_address_changes(address_changes)
        self._committed = pending.state
        self._pending = _PendingBlock(state=self._committed)
        response = abci_pb2.ResponseCommit()
        height = self._committed.height
        if self._retain_blocks > 0 and height >= self._retain_blocks:
            response.retain_height = height - self._retain_blocks + 1
        return response

    def query(self, req: abci_pb2.RequestQuery) -> abci_pb2.ResponseQuery:
        """`/val` looks up a stored validator by raw public key; any other path a key's value."""
        if req.path == "/val":
            return abci_pb2.ResponseQuery(key=req.data, value=self._storage.get(storage_key(req.data)))
        value = self._storage.get(KV_PAIR_PREFIX + req.data)
        return abci_pb2.ResponseQuery(
            key=req.data,
            value=value,
            log="does not exist" if value is None else "exists",
            height=self._committed.height,
            index=-1 if req.prove else 0,
        )

    def list_snapshots(self, req: abci_pb2.RequestListSnapshots) -> abci_pb2.ResponseListSnapshots:
        return abci_pb2.ResponseListSnapshots()

    def offer_snapshot(self, req: abci_pb2.RequestOfferSnapshot) -> abci_pb2.ResponseOfferSnapshot:
        return abci_pb2.ResponseOfferSnapshot()

    def load_snapshot_chunk(
        self, req: abci_pb2.RequestLoadSnapshotChunk
    ) -> abci_pb2.ResponseLoadSnapshotChunk:
        return abci_pb2.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(
        self, req: abci_pb2.RequestApplySnapshotChunk
    ) -> abci_pb2.ResponseApplySnapshotChunk:
        return abci_pb2.ResponseApplySnapshotChunk()

    def _stage_validator_updates(
        self, updates: list[abci_pb2.ValidatorUpdate], writes: dict[bytes, bytes | None]
    ) -> dict[bytes, keys_pb2.PublicKey | None]:
        """Go's `updateValidator` for each update, in order: power 0 removes, anything else sets."""
        address_changes: dict[bytes, keys_pb2.PublicKey | None] = {}
        for update in updates:
            try:
                raw_key, address = raw_key_and_address(update.pub_key)
            except InvalidValidator as exc:
                raise KVStoreError(f"can't decode public key: {exc}") from exc
            if update.power == 0:
                writes[storage_key(raw_key)] = None
                address_changes[address] = None
            else:
                writes[storage_key(raw_key)] = encode_delimited(update)
                address_changes[address] = update.pub_key
        return address_changes

    def _apply_address_changes(self, changes: dict[bytes, keys_pb2.PublicKey | None]) -> None:
        for address, pub_key in changes.items():
            if pub_key is None:
                self._pub_keys_by_address.pop(address, None)
            else:
                self._pub_keys_by_address[address] = pub_key
