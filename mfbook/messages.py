"""Error texts and limits shared by the JS kernel and the Python API.

The texts are Miniflare 2's (``packages/durable-objects``), so code written against Miniflare
or Cloudflare sees the same messages. They are injected into every isolate, so each text
lives only here.
"""

from __future__ import annotations

MAX_KEYS = 128
MAX_KEY_SIZE = 2048
MAX_VALUE_SIZE = 128 * 1024
# The Workers runtime allows 32 bytes of serialisation overhead above the advertised limit.
ENFORCED_MAX_VALUE_SIZE = MAX_VALUE_SIZE + 32
#: SQLite-backed objects: key and value together (one row of ``_cf_KV``), Cloudflare's 2 MB.
MAX_SQL_ROW_SIZE = 2 * 1024 * 1024
MAX_REQUEST_DEPTH = 16
MAX_PIPELINE_DEPTH = 32

UNDEFINED_KEY_SUFFIX = ": parameter 1 is not of type 'variant'. (key is undefined)"
DEPTH_ERROR = (
    "Subrequest depth limit exceeded. This request recursed through Workers too many times. "
    "This can happen e.g. if you have a Worker or Durable Object that calls other Workers or "
    "objects recursively."
)

MESSAGES: dict[str, object] = {
    "maxKeys": MAX_KEYS,
    "maxRequestDepth": MAX_REQUEST_DEPTH,
    "maxKeySize": MAX_KEY_SIZE,
    "enforcedMaxValueSize": ENFORCED_MAX_VALUE_SIZE,
    "maxSqlRowSize": MAX_SQL_ROW_SIZE,
    "undefinedKeySuffix": UNDEFINED_KEY_SUFFIX,
    "keyTooLarge": f"Keys cannot be larger than {MAX_KEY_SIZE} bytes.",
    "keyTooLargeMany": 'Key "{key}" is larger than the limit of ' + f"{MAX_KEY_SIZE} bytes.",
    "tooManyKeys": f"Maximum number of keys is {MAX_KEYS}.",
    "tooManyPairs": f"Maximum number of pairs is {MAX_KEYS}.",
    "putUndefined": "put() called with undefined value.",
    "valueTooLarge": f"Values cannot be larger than {MAX_VALUE_SIZE} bytes.",
    "valueTooLargeMany": 'Value for key "{key}" is above the limit of ' + f"{MAX_VALUE_SIZE} bytes.",
    "sqlTooBig": "string or blob too big: SQLITE_TOOBIG",
    "txnTooManyKeys": f"Maximum number of keys modified in a transaction is {MAX_KEYS}.",
    "listLimit": "List limit must be positive.",
    "listStartAfter": "list() cannot be called with both start and startAfter values.",
    "txnRolledBack": "Cannot {op}() on rolled back transaction",
    "txnCommitted": (
        "Cannot call {op}() on transaction that has already committed: did you move `txn` outside of the closure?"
    ),
    "txnDeleteAll": "Cannot call deleteAll() within a transaction",
    "idNotHex": "Invalid Durable Object ID. Durable Object IDs must be 64 hex digits.",
    "idWrongClass": "Invalid Durable Object ID. The ID does not match this Durable Object class.",
    "idNotForClass": "ID is not for this Durable Object class.",
    "noAlarmHandler": ("Your Durable Object class must have an alarm() handler in order to call setAlarm()"),
    "noAlarmHandlerDefined": "No alarm handler defined in Durable Object",
    "noObjectFetchHandler": "No fetch handler defined in Durable Object",
    "objectNotResponse": "Durable Object fetch handler didn't respond with a Response object",
    "workerNotResponse": "Fetch handler didn't respond with a Response object",
    "noWorkerFetchHandler": "No fetch handler defined and no upstream to proxy to",
    "noResponse": "No response!",
    "rpcUnsupported": (
        "The receiving Durable Object does not support RPC, because its class was not declared "
        "with `extends DurableObject`. In order to enable RPC, make sure your class "
        "extends the special class `DurableObject`, which can be imported from the module "
        '"cloudflare:workers".'
    ),
    "rpcNoMethod": 'The RPC receiver does not implement the method "{method}".',
}


def text(name: str, **fields: str) -> str:
    """Returns a message with its ``{placeholders}`` filled in."""
    message = str(MESSAGES[name])
    for field, value in fields.items():
        message = message.replace("{" + field + "}", value)
    return message
