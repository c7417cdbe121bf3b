"""redis-py against a running Basalt: the client classes applications use.

Run by tests/it/redis_py.rs as `python redis_py_compat.py PORT` with redis-py 5 from PyPI (the
virtualenv tools/setup.sh makes); exits non-zero on the first failed check. RESP2, redis-py's
default.
"""

import sys
import threading
import time

import redis

PORT = int(sys.argv[1])


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=PORT, decode_responses=True, **kw)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def test_transaction_retry_loop():
    """redis-py's transaction() helper: WATCH, read, MULTI/EXEC, retry on WatchError."""
    r = client()
    r.set("counter", 0)
    threads, per = 4, 50

    def work():
        c = client()
        for _ in range(per):
            def incr(pipe):
                v = int(pipe.get("counter"))
                pipe.multi()
                pipe.set("counter", v + 1)
            c.transaction(incr, "counter")

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(int(r.get("counter")) == threads * per, "transaction loop lost increments")


def test_pipelines():
    r = client()
    for transaction in (False, True):
        key = f"pl:{transaction}"
        with r.pipeline(transaction=transaction) as p:
            for i in range(10_000):
                p.rpush(key, i)
            replies = p.execute()
        check(replies[-1] == 10_000, f"pipeline transaction={transaction}")
        check(r.llen(key) == 10_000, "pipeline length")
    # Errors inside a transaction come back per command.
    with r.pipeline() as p:
        p.set("s", "x").incr("s").get("s")
        out = p.execute(raise_on_error=False)
    check(out[0] is True and isinstance(out[1], redis.ResponseError) and out[2] == "x",
          f"per-command errors: {out}")


def test_pubsub_with_patterns():
    r = client()
    p = r.pubsub()
    p.psubscribe("news.*")
    p.subscribe("alerts")
    # Confirmations first.
    got = [p.get_message(timeout=2) for _ in range(2)]
    check([m["type"] for m in got] == ["psubscribe", "subscribe"], f"confirmations {got}")
    check(r.publish("news.tech", "hello") == 1, "publish to a pattern")
    check(r.publish("alerts", "fire") == 1, "publish to a channel")
    msgs = [p.get_message(timeout=2) for _ in range(2)]
    check(msgs[0]["type"] == "pmessage" and msgs[0]["channel"] == "news.tech"
          and msgs[0]["pattern"] == "news.*" and msgs[0]["data"] == "hello", f"{msgs[0]}")
    check(msgs[1]["type"] == "message" and msgs[1]["data"] == "fire", f"{msgs[1]}")
    check(r.pubsub_numpat() == 1, "PUBSUB NUMPAT")
    # A listener thread, the way applications use it.
    received = []
    p2 = r.pubsub(ignore_subscribe_messages=True)
    p2.subscribe(**{"jobs": lambda m: received.append(m["data"])})
    worker = p2.run_in_thread(sleep_time=0.01)
    time.sleep(0.1)
    for i in range(5):
        r.publish("jobs", str(i))
    deadline = time.time() + 5
    while len(received) < 5 and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()
    check(received == ["0", "1", "2", "3", "4"], f"listener got {received}")
    p.close()


def test_blocking_queue():
    r = client()
    r.delete("q", "done")
    check(r.blpop("q", timeout=0.1) is None, "BLPOP timeout")

    def produce():
        time.sleep(0.1)
        client().rpush("q", "job1")

    threading.Thread(target=produce).start()
    check(r.blpop("q", timeout=5) == ("q", "job1"), "BLPOP served")
    r.rpush("q", "job2")
    check(r.brpoplpush("q", "done", timeout=1) == "job2", "BRPOPLPUSH")
    check(r.lrange("done", 0, -1) == ["job2"], "moved")


def test_data_types():
    r = client()
    r.hset("h", mapping={"a": "1", "b": "2"})
    check(r.hgetall("h") == {"a": "1", "b": "2"}, "HGETALL")
    r.zadd("z", {"x": 1.5, "y": 2.5})
    check(r.zrange("z", 0, -1, withscores=True) == [("x", 1.5), ("y", 2.5)], "ZRANGE WITHSCORES")
    check(r.zincrby("z", 1, "x") == 2.5, "ZINCRBY")
    r.sadd("s1", "a", "b")
    check(r.smembers("s1") == {"a", "b"}, "SMEMBERS")
    r.set("f", 1.5)
    check(r.incrbyfloat("f", 0.25) == 1.75, "INCRBYFLOAT")
    r.set("e", "v", ex=100)
    check(0 < r.ttl("e") <= 100, "TTL")
    keys = set(r.scan_iter(match="pl:*", count=2))
    check(keys == {"pl:False", "pl:True"}, f"SCAN {keys}")
    check(r.type("z") == "zset", "TYPE")


def test_lock():
    """redis-py's Lock: its acquire, extend, reacquire and release are Lua scripts (EVALSHA, with
    a fall back to EVAL after NOSCRIPT)."""
    r = client()
    r.script_flush()
    lock = r.lock("resource", timeout=5, blocking_timeout=0.2)
    check(lock.acquire() is True, "Lock acquire")
    check(lock.owned() and lock.locked(), "Lock owned")
    other = client().lock("resource", timeout=5, blocking_timeout=0.2)
    check(other.acquire() is False, "a second Lock cannot acquire")
    check(lock.extend(10) is True, "Lock extend adds time")
    check(8000 < r.pttl("resource") <= 15000, f"extended TTL {r.pttl('resource')}")
    check(lock.extend(3, replace_ttl=True) is True, "Lock extend replace_ttl")
    check(r.pttl("resource") <= 3000, "replaced TTL")
    check(lock.reacquire() is True, "Lock reacquire")
    lock.release()
    check(not lock.locked(), "released")
    try:
        lock.release()
        check(False, "releasing an unlocked Lock must fail")
    except redis.exceptions.LockError:
        pass
    # Timeout: the lock expires by itself, then another owner takes it; the first one can
    # neither extend nor release it any more.
    short = r.lock("resource", timeout=0.2)
    check(short.acquire() is True, "short Lock acquire")
    time.sleep(0.4)
    check(other.acquire() is True, "the lock expired and another owner took it")
    try:
        short.extend(1)
        check(False, "extending a lost Lock must fail")
    except redis.exceptions.LockNotOwnedError:
        pass
    other.release()
    # As a context manager, contended by threads: the critical section never overlaps.
    r.set("inside", 0)
    overlaps = []

    def worker():
        c = client()
        for _ in range(20):
            with c.lock("cs", timeout=5, blocking_timeout=10, sleep=0.001):
                if c.incr("inside") != 1:
                    overlaps.append(1)
                c.decr("inside")

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not overlaps, "Lock let two owners in")


def test_scripts_and_functions():
    r = client()
    incr = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    r.delete("sc")
    check(incr(keys=["sc"], args=[5]) == 5, "Script object")
    check(incr(keys=["sc"], args=[5]) == 10, "Script object by EVALSHA")
    r.function_load("#!lua name=pylib\nredis.register_function('double', function(k, a) return a[1] * 2 end)", replace=True)
    check(r.fcall("double", 0, 21) == 42, "FCALL")
    check(r.function_list(library="pylib")[0][1] == "pylib", "FUNCTION LIST")
    r.function_delete("pylib")


def test_acl_users():
    r = client()
    r.acl_setuser("app", enabled=True, passwords=["+apppw"], keys=["app:*"],
                  commands=["+get", "+set"])
    app = client(username="app", password="apppw")
    check(app.set("app:1", "v") is True, "ACL allowed SET")
    try:
        app.set("other", "v")
        check(False, "ACL denied key")
    except redis.exceptions.NoPermissionError:
        pass
    check(r.acl_whoami() == "default", "WHOAMI")
    check("app" in r.acl_users(), "ACL USERS")
    r.acl_deluser("app")


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
        print(f"ok {name}")
