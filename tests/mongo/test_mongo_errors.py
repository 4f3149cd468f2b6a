from __future__ import annotations

import pickle

import bson.errors
import pymongo.errors
import pytest

from anyservices import (
    AuthenticationError,
    CommandError,
    ConflictError,
    ConnectError,
    DataError,
    PermissionDeniedError,
    ServiceTimeoutError,
)
from anyservices.mongo import (
    MongoAuthenticationError,
    MongoCommandError,
    MongoConfigurationError,
    MongoConnectError,
    MongoDataError,
    MongoDuplicateKeyError,
    MongoError,
    MongoPermissionDeniedError,
    MongoTimeoutError,
)
from anyservices.mongo._errors import map_error


def test_duplicate_key_carries_the_key() -> None:
    driver = pymongo.errors.DuplicateKeyError(
        "E11000", 11000, {"code": 11000, "keyValue": {"email": "a@b"}, "keyPattern": {"email": 1}}
    )
    ours = map_error(driver, operation="insert_one", resource="users")
    assert isinstance(ours, MongoDuplicateKeyError)
    assert isinstance(ours, ConflictError)
    assert ours.key == {"email": "a@b"}
    assert (ours.service, ours.operation, ours.resource) == ("mongo", "insert_one", "users")
    assert "email" in str(ours)


def test_duplicate_in_a_bulk_write() -> None:
    driver = pymongo.errors.BulkWriteError(
        {"writeErrors": [{"index": 1, "code": 11000, "keyValue": {"k": 2}, "errmsg": "dup"}]}
    )
    ours = map_error(driver, operation="insert_many")
    assert isinstance(ours, MongoDuplicateKeyError)
    assert ours.key == {"k": 2}


def test_other_bulk_errors_are_command_errors() -> None:
    driver = pymongo.errors.BulkWriteError(
        {"writeErrors": [{"index": 0, "code": 121, "errmsg": "validation"}]}
    )
    assert type(map_error(driver, operation="bulk_write")) is MongoCommandError


@pytest.mark.parametrize(
    ("driver", "ours", "kind"),
    [
        (pymongo.errors.ServerSelectionTimeoutError("no"), MongoConnectError, ConnectError),
        (pymongo.errors.AutoReconnect("lost"), MongoConnectError, ConnectError),
        (pymongo.errors.ConnectionFailure("lost"), MongoConnectError, ConnectError),
        (pymongo.errors.NetworkTimeout("slow"), MongoTimeoutError, ServiceTimeoutError),
        (pymongo.errors.ExecutionTimeout("slow", 50), MongoTimeoutError, TimeoutError),
        (
            pymongo.errors.OperationFailure("auth", 18),
            MongoAuthenticationError,
            AuthenticationError,
        ),
        (
            pymongo.errors.OperationFailure("no", 13),
            MongoPermissionDeniedError,
            PermissionDeniedError,
        ),
        (pymongo.errors.OperationFailure("slow", 50), MongoTimeoutError, ServiceTimeoutError),
        (pymongo.errors.OperationFailure("bad", 2), MongoCommandError, CommandError),
        (pymongo.errors.ConfigurationError("bad"), MongoConfigurationError, MongoError),
        (pymongo.errors.InvalidOperation("closed"), MongoCommandError, CommandError),
        (bson.errors.InvalidDocument("nope"), MongoDataError, DataError),
        (OverflowError("MongoDB can only handle up to 8-byte ints"), MongoDataError, DataError),
        (UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates"), MongoDataError, DataError),
        (pymongo.errors.PyMongoError("odd", error_labels=["x"]), MongoCommandError, CommandError),
    ],
)
def test_mapping_is_most_specific(
    driver: Exception, ours: type[MongoError], kind: type[BaseException]
) -> None:
    mapped = map_error(driver, operation="op", resource="c")
    assert type(mapped) is ours
    assert isinstance(mapped, kind)


def test_labels_and_codes_are_kept() -> None:
    driver = pymongo.errors.OperationFailure(
        "conflict", 112, {"code": 112, "errorLabels": ["TransientTransactionError"]}
    )
    mapped = map_error(driver, operation="update_one")
    assert mapped.code == 112
    assert mapped.transient
    assert not map_error(pymongo.errors.OperationFailure("x", 2), operation="o").transient


def test_errors_pickle_with_their_context() -> None:
    error = MongoCommandError("bad", operation="find_one", resource="users")
    again = pickle.loads(pickle.dumps(error))
    assert (again.operation, again.resource) == ("find_one", "users")


def test_timeouts_say_so_the_pymongo_way() -> None:
    assert map_error(pymongo.errors.NetworkTimeout("slow"), operation="o").timeout is True
    assert map_error(pymongo.errors.AutoReconnect("lost"), operation="o").timeout is False
    # An error whose timeout comes from its cause (client-side encryption's).
    wrapped = pymongo.errors.EncryptionError(pymongo.errors.NetworkTimeout("kms slow"))
    mapped = map_error(wrapped, operation="encrypt")
    assert type(mapped) is MongoTimeoutError
    assert "timed out" in str(mapped)


def test_our_errors_are_pymongos_too() -> None:
    duplicate = map_error(
        pymongo.errors.DuplicateKeyError("E11000", 11000, {"keyValue": {"k": 1}}), operation="o"
    )
    assert isinstance(duplicate, pymongo.errors.DuplicateKeyError)
    assert duplicate.code == 11000
    failure = map_error(
        pymongo.errors.OperationFailure("bad", 2, {"errmsg": "bad", "code": 2}), operation="o"
    )
    assert isinstance(failure, pymongo.errors.OperationFailure)
    assert failure.details == {"errmsg": "bad", "code": 2}
    connect = map_error(pymongo.errors.ServerSelectionTimeoutError("none"), operation="o")
    assert isinstance(connect, pymongo.errors.ConnectionFailure)
    config = map_error(pymongo.errors.ConfigurationError("bad"), operation="o")
    assert isinstance(config, pymongo.errors.ConfigurationError)
    labelled = map_error(
        pymongo.errors.OperationFailure("c", 112, {"errorLabels": ["TransientTransactionError"]}),
        operation="o",
    )
    assert labelled.has_error_label("TransientTransactionError")
