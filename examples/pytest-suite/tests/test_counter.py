"""Tests of examples/worker.js written against the `miniflare` fixture of mfbook's pytest plugin.

Every test starts from the storage the fixture set up (seed.jsonl: the counter "seeded" holds
41), whatever the tests before it wrote.
"""

from mfbook.testing import instance_state, object_storage, recorded, run_alarm


def test_inc_counts_from_the_seed(miniflare):
    assert miniflare.dispatch_fetch("http://localhost/inc?name=seeded").text() == "42"


def test_a_fresh_counter_starts_at_one(miniflare):
    assert miniflare.dispatch_fetch("http://localhost/inc?name=fresh").text() == "1"


def test_writes_of_earlier_tests_are_gone(miniflare):
    # test_inc_counts_from_the_seed wrote 42; every test starts from the seed again
    stub = miniflare.get_durable_object_namespace("COUNTER").get_by_name("seeded")
    assert object_storage(miniflare, stub) == {"count": 41}


def test_rpc_and_instance_state(miniflare):
    stub = miniflare.get_durable_object_namespace("COUNTER").get_by_name("rpc")
    assert instance_state(miniflare, stub) is None  # not constructed yet
    assert stub.call("increment", 5) == 5
    miniflare.dispatch_fetch("http://localhost/get?name=rpc")
    assert instance_state(miniflare, stub)["hits"] == 1


def test_a_transaction_request_commits_exactly_one_transaction(miniflare):
    with recorded(miniflare) as trace:
        assert miniflare.dispatch_fetch("http://localhost/txn?name=seeded").text() == "42"
    trace.assert_transactions(committed=1, conflicts=0)
    trace.assert_commits(1)


def test_the_alarm_runs_on_demand(miniflare):
    stub = miniflare.get_durable_object_namespace("COUNTER").get_by_name("later")
    miniflare.dispatch_fetch("http://localhost/remind?name=later&in=3600000")  # an hour from now
    assert run_alarm(miniflare, stub) is True
    assert object_storage(miniflare, stub)["reminders"] == 1
    assert run_alarm(miniflare, stub) is False  # nothing scheduled any more
