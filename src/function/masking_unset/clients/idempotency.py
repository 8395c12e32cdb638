"""At most one DeepCall call per close event: Powertools' idempotency on DynamoDB, with the
additions docs/idempotency.md describes (attempt tokens, owed writes, unfinished attempts). The
key is derived in :mod:`masking_unset.logic.idempotency`."""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyInconsistentStateError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)
from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.budget import TimeBudget
from masking_unset.models.errors import InFlight, OutcomeUnknown, UpstreamUnavailable
from masking_unset.models.events import Outcome
from masking_unset.observability import count, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

# Records are keyed "<prefix>#<sha256>". Powertools' default prefix holds the Lambda function's
# name, so the webhook and queue functions would never see each other's records.
KEY_PREFIX = "masking-unset"
ATTEMPT_ATTR = "attempt"  # the token of the attempt that wrote the in-progress record
_CONDITION_FAILED = "ConditionalCheckFailedException"
_MAX_OWED = 1000  # writes remembered per container for the next invocation to settle
# Completion and release writes: each with the SDK's own attempts, and only while time allows.
# More would hold the answer for long when the table is down.
_WRITE_TRIES = 3


def _run_once(key_data: dict[str, str], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return action()


class _Unfinished(IdempotencyValidationError):
    """The record is in progress, but the invocation that wrote it has ended.

    A validation error to Powertools, whose handler passes that family on unwrapped.
    """


class _NoTimeForWrite(Exception):
    """Not enough of the invocation left to try an idempotency write (again)."""


@dataclass(frozen=True)
class _Owed:
    """A write the idempotency table refused for the rest of an invocation."""

    record_id: str
    attempt: str
    response: str | None = None  # the result to store (a completion); None: a release
    expiry: int = 0


class _Store(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB persistence with two additions.

    - Each in-progress record carries its attempt's token. The SDK's retry of a ``PutItem`` whose
      reply was lost finds the record it wrote and succeeds; a concurrent duplicate still fails.
    - An in-progress record whose invocation has ended is not taken over (Powertools would): the
      attempt may have expired the masking, so the event ends as :class:`OutcomeUnknown`.
    - A live record under one of :attr:`previous` keys (the event's key under a previous hash
      key) counts as this key's own: a key rotation inside the window expires nothing twice.

    Completion and release writes are conditional on the token and tried up to three times
    while the invocation's time allows.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        budget: TimeBudget,
        remaining: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(table_name=table_name, boto3_client=client)
        self._budget = budget
        self._remaining = remaining
        self._sleep = sleep
        self._local = threading.local()  # batch records run in threads: one token each
        self._owed: OrderedDict[str, _Owed] = OrderedDict()
        self._owed_lock = threading.Lock()

    @property
    def attempt(self) -> str:
        """The token of this thread's current attempt."""
        return str(getattr(self._local, "attempt", ""))

    @attempt.setter
    def attempt(self, token: str) -> None:
        self._local.attempt = token

    @property
    def previous(self) -> tuple[str, ...]:
        """The keys of this thread's current event under previous hash keys."""
        return tuple(getattr(self._local, "previous", ()))

    @previous.setter
    def previous(self, keys: tuple[str, ...]) -> None:
        self._local.previous = keys

    def record_id(self, key: str) -> str:
        """The stored id of ``key`` (as Powertools hashes it)."""
        hashed = self._get_hashed_idempotency_key(data={"key": key})
        assert hashed is not None
        return hashed

    # Powertools' hooks -------------------------------------------------------------------------

    def _put_record(self, data_record: DataRecord) -> None:
        self._check_previous()
        item: dict[str, Any] = {
            **self._get_key(data_record.idempotency_key),
            self.expiry_attr: {"N": str(data_record.expiry_timestamp)},
            self.status_attr: {"S": data_record.status},
            ATTEMPT_ATTR: {"S": self.attempt},
        }
        ends = data_record.in_progress_expiry_timestamp
        if ends is not None:
            item[self.in_progress_expiry_attr] = {"N": str(ends)}
        now = time.time()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                # New, or past the window, or already ours (an SDK retry after a lost reply).
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #expiry < :now OR #attempt = :attempt"
                ),
                ExpressionAttributeNames={
                    "#id": self.key_attr,
                    "#expiry": self.expiry_attr,
                    "#attempt": ATTEMPT_ATTR,
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":attempt": {"S": self.attempt},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise
            old = self._existing(exc, data_record.idempotency_key)
            if old.status == STATUS_CONSTANTS["INPROGRESS"]:
                ends = old.in_progress_expiry_timestamp
                if ends is not None and ends < int(now * 1000):
                    raise _Unfinished("an earlier attempt ended without an outcome") from None
            raise IdempotencyItemAlreadyExistsError(old_data_record=old) from None

    def _check_previous(self) -> None:
        """Raise as for an existing record when one under a previous key is still live.

        Read before the claim: a container still on the old key does not know the new one, so
        two deliveries racing across a rotation can both pass (docs/security.md, "Rotating the
        hash key").
        """
        now = time.time()
        # Hashed here, not before: Powertools sets the prefix and hash function on first use.
        for record_id in (self.record_id(key) for key in self.previous):
            found = self.client.get_item(
                TableName=self.table_name, Key=self._get_key(record_id), ConsistentRead=True
            ).get("Item")
            if not found:
                continue
            old = self._item_to_data_record(found)
            if old.expiry_timestamp is not None and old.expiry_timestamp < now:
                continue  # past the window: as good as gone (the TTL deletes it late)
            if old.status == STATUS_CONSTANTS["INPROGRESS"]:
                ends = old.in_progress_expiry_timestamp
                if ends is not None and ends < int(now * 1000):
                    raise _Unfinished("an earlier attempt ended without an outcome")
            raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _existing(self, exc: ClientError, record_id: str) -> DataRecord:
        item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if item:
            return self._item_to_data_record(item)
        found = self.client.get_item(
            TableName=self.table_name, Key=self._get_key(record_id), ConsistentRead=True
        )
        if "Item" not in found:
            # Deleted in between: Powertools tries the put again.
            raise IdempotencyInconsistentStateError("the record went away") from None
        return self._item_to_data_record(found["Item"])

    def _update_record(self, data_record: DataRecord) -> None:
        assert data_record.response_data is not None
        owed = _Owed(
            data_record.idempotency_key,
            self.attempt,
            data_record.response_data,
            data_record.expiry_timestamp or 0,
        )
        self._retried(owed, self._budget.completion_retry)

    def _delete_record(self, data_record: DataRecord) -> None:
        owed = _Owed(data_record.idempotency_key, self.attempt)
        self._retried(owed, self._budget.release_retry)

    # Writes ------------------------------------------------------------------------------------

    def write(self, owed: _Owed) -> None:
        """Complete or release ``owed``'s record, if it is still that attempt's."""
        key = self._get_key(owed.record_id)
        names = {"#attempt": ATTEMPT_ATTR}
        values: dict[str, Any] = {":attempt": {"S": owed.attempt}}
        try:
            if owed.response is None:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=key,
                    ConditionExpression="#attempt = :attempt",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                return
            self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET #data = :data, #expiry = :expiry, #status = :done",
                ConditionExpression="#attempt = :attempt",
                ExpressionAttributeNames={
                    **names,
                    "#data": self.data_attr,
                    "#expiry": self.expiry_attr,
                    "#status": self.status_attr,
                },
                ExpressionAttributeValues={
                    **values,
                    ":data": {"S": owed.response},
                    ":expiry": {"N": str(owed.expiry)},
                    ":done": {"S": STATUS_CONSTANTS["COMPLETED"]},
                },
            )
        except ClientError as exc:
            # Not (or no longer) this attempt's record: nothing left to write. A retry after a
            # lost reply to a delete lands here too.
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise

    def _retried(self, owed: _Owed, needs: float) -> None:
        """``write(owed)``, tried up to three times, each only with ``needs`` seconds (and a pause)
        left; if it still has not been written, remembered for the next invocation and the error
        raised."""
        tries, pause = 0, 0.0
        error: Exception = _NoTimeForWrite("no time left for the idempotency write")
        while True:
            if tries >= _WRITE_TRIES or self._remaining() < pause + needs:
                self.owe(owed)
                logger.warning(
                    "idempotency write failed", extra={"tries": tries, "error": _error_code(error)}
                )
                raise error
            if pause:
                self._sleep(pause)
            tries += 1
            try:
                self.write(owed)
                return
            except (ClientError, BotoCoreError) as exc:
                error = exc
                pause = random.uniform(0.0, min(1.0, 0.1 * 2**tries))  # jitter

    def owe(self, owed: _Owed) -> None:
        """Remember a write for :meth:`settle`."""
        with self._owed_lock:
            self._owed[owed.record_id] = owed
            while len(self._owed) > _MAX_OWED:
                self._owed.popitem(last=False)

    def settle(self) -> int:
        """Write what earlier invocations of this container could not, until one write fails;
        returns how many were written."""
        with self._owed_lock:
            pending = list(self._owed.values())
        written = 0
        for owed in pending:
            if self._remaining() < self._budget.aws_call + self._budget.event_start:
                break
            try:
                self.write(owed)
            except (ClientError, BotoCoreError):
                break  # still failing: keep it, and the rest, for the next invocation
            with self._owed_lock:
                if self._owed.get(owed.record_id) == owed:
                    del self._owed[owed.record_id]
            written += 1
        return written

    @property
    def owed(self) -> int:
        """How many writes this container still owes the table."""
        with self._owed_lock:
            return len(self._owed)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


class DynamoDBIdempotency:
    """Powertools idempotency on a DynamoDB table (``id`` key, TTL on ``expiration``)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        window_seconds: int,
        budget: TimeBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            IdempotencyConfig,
            idempotent_function,
        )

        self._budget = budget or TimeBudget()
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=window_seconds,
            hash_function="sha256",
            response_hook=self._mark_duplicate,
        )
        self.store = _Store(
            client, table_name, budget=self._budget, remaining=self._remaining, sleep=sleep
        )
        self._guarded = idempotent_function(
            data_keyword_argument="key_data",
            persistence_store=self.store,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )(_run_once)

    def _remaining(self) -> float:
        context = self._config.lambda_context
        return math.inf if context is None else context.get_remaining_time_in_millis() / 1000.0

    @staticmethod
    def _mark_duplicate(response: Any, idempotent_data: Any) -> Any:
        if isinstance(response, dict):
            return {
                **response,
                "status": Outcome.DUPLICATE.value,
                "first_status": response.get("status"),
            }
        return response

    def register(self, context: LambdaContext) -> None:
        """Record the invocation's deadline (an in-progress record says its invocation has ended
        after it), then first of all write the completions and releases earlier invocations of
        this container could not."""
        self._config.register_lambda_context(context)
        if self.store.owed and (written := self.store.settle()):
            count("IdempotencyWritesSettled", written)
            logger.info("owed idempotency writes settled", extra={"written": written})

    def once(
        self, key: str, action: Callable[[], dict[str, Any]], *, previous: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Run ``action`` unless ``key``, or one of ``previous`` (the event's keys under previous
        hash keys), was seen within the window.

        Once ``action`` has returned, its result stands, even if the table then refuses to record
        it; if ``action`` raised, its error is raised, even if the record could not be released.
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        ran: dict[str, Any] = {}

        def run() -> dict[str, Any]:
            try:
                ran["result"] = action()
            except BaseException as exc:
                ran["error"] = exc
                raise
            return dict(ran["result"])

        self.store.attempt = uuid.uuid4().hex
        self.store.previous = tuple(k for k in previous if k != key)
        try:
            result: dict[str, Any] = self._guarded(key_data={"key": key}, action=run)
        except IdempotencyAlreadyInProgressError:
            raise InFlight("this event is already being processed") from None
        except _Unfinished:
            count("OutcomeUnknown")
            logger.error(
                "an earlier attempt ended without an outcome: DeepCall not called",
                extra={"idempotency_key": key},
            )
            raise OutcomeUnknown(
                "an earlier attempt at this event ended without recording whether the masking "
                "was expired; it is not sent to DeepCall again within the idempotency window"
            ) from None
        except IdempotencyPersistenceLayerError as exc:
            if "result" in ran:
                # DeepCall confirmed: the event is done, whatever the table says.
                count("IdempotencyCompletionFailed")
                logger.error(
                    "completion not recorded; the success stands",
                    extra={"idempotency_key": key, "error": _error_code(exc.__cause__ or exc)},
                )
                return dict(ran["result"])
            if "error" in ran:
                count("IdempotencyReleaseFailed")
                logger.error(
                    "in-progress record not released",
                    extra={"idempotency_key": key, "error": _error_code(exc.__cause__ or exc)},
                )
                raise ran["error"] from None
            self._release_claim(key)
            raise UpstreamUnavailable(
                f"idempotency store unavailable ({_error_code(exc.__cause__ or exc)})",
                code="idempotency_unavailable",
            ) from None
        finally:
            self.store.attempt = ""
            self.store.previous = ()
        return result

    def _release_claim(self, key: str) -> None:
        # The put failed, but an attempt whose reply was lost may have written it: release it,
        # so that the copy handed on does not find it.
        owed = _Owed(self.store.record_id(key), self.store.attempt)
        if self._remaining() < self._budget.release_retry:
            self.store.owe(owed)
            return
        try:
            self.store.write(owed)
        except (ClientError, BotoCoreError):
            self.store.owe(owed)
