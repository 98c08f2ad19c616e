"""What SQL from a Durable Object's code may do: workerd's rules, as a ``set_authorizer`` callback.

The Workers runtime (cloudflare/workerd, ``SqliteDatabase::isAuthorized``) lets JavaScript
read and write its own tables, views, indexes and triggers, use an allow-list of functions
and a few pragmas, and nothing else: no ``BEGIN``/``SAVEPOINT`` (the JS transaction APIs
own transactions), no ``ATTACH``, no temporary tables, no virtual tables but FTS5 and R*Tree,
and no names starting with ``_cf_`` (the runtime's own tables, such as ``_cf_KV``). SQLite
then reports a denial with its own texts (``not authorized``, ``access to _cf_KV.key is
prohibited``, ``not authorized to use function: sqlite_version``); transactions get the
runtime's longer explanation, raised here as :class:`TransactionStatementError`.
"""

from __future__ import annotations

import sqlite3

__all__ = ["TRANSACTION_MESSAGE", "Authorizer", "TransactionStatementError", "is_allowed_name"]

#: workerd's error for ``BEGIN``/``SAVEPOINT``/``COMMIT`` inside ``sql.exec``.
TRANSACTION_MESSAGE = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)

# SQLite's authorizer action codes and answers (fixed by its C API; older Pythons lack some names).
_ALTER_TABLE = 26
_ANALYZE = 28
_CREATE_INDEX = 1
_CREATE_TABLE = 2
_CREATE_TRIGGER = 7
_CREATE_VIEW = 8
_CREATE_VTABLE = 29
_DELETE = 9
_DENY = 1
_DETACH = 25
_DROP_INDEX = 10
_DROP_TABLE = 11
_DROP_TRIGGER = 16
_DROP_VIEW = 17
_DROP_VTABLE = 30
_FUNCTION = 31
_INSERT = 18
_OK = 0
_PRAGMA = 19
_READ = 20
_RECURSIVE = 33
_REINDEX = 27
_SAVEPOINT = 32
_SELECT = 21
_TRANSACTION = 22
_UPDATE = 23

_FUNCTIONS = frozenset(
    """
    abs changes char coalesce concat concat_ws format glob hex ifnull iif instr last_insert_rowid
    length like likelihood likely load_extension lower ltrim max_scalar min_scalar nullif
    octet_length printf quote random randomblob replace round rtrim sign soundex substr substring
    total_changes trim typeof unhex unicode unlikely upper zeroblob
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    avg count group_concat max min string_agg sum total
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2
    mod pi pow power radians sin sinh sqrt tan tanh trunc
    json jsonb json_array jsonb_array json_array_length json_error_position json_extract
    jsonb_extract -> ->> json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch
    json_pretty json_remove jsonb_remove json_replace jsonb_replace json_set jsonb_set json_type
    json_valid json_quote json_group_array jsonb_group_array json_group_object jsonb_group_object
    json_each json_tree
    match highlight bm25 snippet rtreecheck
    sqlite_rename_column sqlite_rename_table sqlite_rename_test sqlite_drop_column
    sqlite_rename_quotefix
    """.split()
)

# Pragma -> argument rule ("none", "bool", "name", "optional-name", "number", "number-or-name").
_PRAGMAS = {
    "data_version": "none",
    "page_size": "none",
    "case_sensitive_like": "bool",
    "foreign_keys": "bool",
    "defer_foreign_keys": "bool",
    "ignore_check_constraints": "bool",
    "legacy_alter_table": "bool",
    "recursive_triggers": "bool",
    "reverse_unordered_selects": "bool",
    "foreign_key_check": "optional-name",
    "foreign_key_list": "name",
    "index_info": "name",
    "index_list": "name",
    "index_xinfo": "name",
    "quick_check": "number-or-name",
    "optimize": "number",
}
_BOOLEANS = ("true", "false", "yes", "no", "on", "off", "1", "0")
_VIRTUAL_MODULES = frozenset({"fts5", "fts5vocab", "rtree", "rtree_i32"})
_NAMED = frozenset(
    {
        _CREATE_TABLE,
        _DELETE,
        _DROP_TABLE,
        _INSERT,
        _CREATE_VIEW,
        _DROP_VIEW,
        _REINDEX,
        _READ,
        _UPDATE,
    }
)
_TWO_NAMES = frozenset(
    {
        _CREATE_INDEX,
        _DROP_INDEX,
        _CREATE_TRIGGER,
        _DROP_TRIGGER,
    }
)


_SCHEMA_CHANGES = frozenset(
    {_ALTER_TABLE, _CREATE_INDEX, _CREATE_TABLE, _CREATE_TRIGGER, _CREATE_VIEW, _CREATE_VTABLE}
    | {_DROP_INDEX, _DROP_TABLE, _DROP_TRIGGER, _DROP_VIEW, _DROP_VTABLE}
)


class TransactionStatementError(sqlite3.DatabaseError):
    """``BEGIN``, ``COMMIT``, ``ROLLBACK`` or ``SAVEPOINT`` inside ``sql.exec``."""


def is_allowed_name(name: str) -> bool:
    """False for the runtime's reserved names (``_cf_`` prefix, any case)."""
    return len(name) < 4 or name[:4].lower() != "_cf_"


def _pragma_allowed(pragma: str, argument: str | None) -> bool:
    if pragma == "table_list":
        return True
    if pragma in ("table_info", "table_xinfo"):
        return argument is not None and is_allowed_name(argument)
    rule = _PRAGMAS.get(pragma)
    if rule is None:
        return False
    if rule == "none":
        return argument is None
    if argument is None:
        return rule != "name"
    if rule == "bool":
        value = argument
        if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        return value.lower().startswith(_BOOLEANS)
    if rule in ("name", "optional-name"):
        return is_allowed_name(argument)
    try:
        int(argument, 0)
        return True
    except ValueError:
        return rule == "number-or-name" and is_allowed_name(argument)


class Authorizer:
    """The callback for :meth:`sqlite3.Connection.set_authorizer` while user SQL is prepared.

    ``trusted`` switches it off for mfbook's own statements (the KV table, metadata).
    A denied transaction statement is remembered in :attr:`transaction_denied`, so the caller
    can raise workerd's explanation instead of SQLite's bare ``not authorized``.
    """

    def __init__(self) -> None:
        self.trusted = False
        self.transaction_denied = False
        #: Statements prepared that change the schema (so plans read from programs may be stale).
        self.schema_changes = 0

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None
    ) -> int:
        return _OK if self.allows(action, arg1, arg2, database) else _DENY

    def allows(self, action: int, arg1: str | None, arg2: str | None, database: str | None) -> bool:
        """Whether one authorizer request is allowed (the runtime's rules)."""
        if action in _SCHEMA_CHANGES:
            self.schema_changes += 1
        if action in (_ALTER_TABLE, _DETACH):
            # SQLite passes the database first for these two.
            database, arg1 = arg1, arg2
        if database == "temp":
            return action in (_READ, _UPDATE) and is_allowed_name(arg1 or "")
        if database is not None and database != "main":
            return False
        if action in (_TRANSACTION, _SAVEPOINT):
            if self.trusted:
                return True
            self.transaction_denied = True
            return False
        if self.trusted:
            return True
        if action == _SELECT or action == _RECURSIVE:
            return True
        if action in _NAMED:
            return is_allowed_name(arg1 or "")
        if action == _ANALYZE:
            return True
        if action == _ALTER_TABLE:
            return is_allowed_name(arg1 or "")
        if action in _TWO_NAMES:
            return is_allowed_name(arg1 or "") and is_allowed_name(arg2 or "")
        if action == _PRAGMA:
            return _pragma_allowed((arg1 or "").lower(), arg2)
        if action == _FUNCTION:
            return (arg2 or "").lower() in _FUNCTIONS
        if action in (_CREATE_VTABLE, _DROP_VTABLE):
            return (arg2 or "").lower() in _VIRTUAL_MODULES and is_allowed_name(arg1 or "")
        return False
