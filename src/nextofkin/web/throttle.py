"""Login throttling: failed logins lock an account name and a client address for a while.

After ``login_max_failures`` failures of one account name (``login_max_failures_per_address`` from
one address) within ``login_window_seconds``, further attempts are refused for
``login_lock_seconds``; every further failure within the window doubles the lock, up to
``login_lock_max_seconds``. Names are counted whether or not such a user exists, so a lock says
nothing about which names are real. A correct password resets its account's count (not its
address's: one valid account must not launder an address's guesses at others).

The counts live in memory (one server process); a restart forgets them. At most ``max_keys``
names and addresses are remembered each, least recently failed forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nextofkin.settings import WebSettings


@dataclass(frozen=True)
class Lock:
    """A refusal: what is locked, and for how many more seconds."""

    scope: str  # "account" or "address"
    key: str
    retry_after: int
    failures: int


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    locks: int = 0
    refusals: int = 0  # attempts refused during the current lock


class _Counter:
    def __init__(self, scope: str, limit: int, max_keys: int) -> None:
        self.scope = scope
        self.limit = limit
        self.max_keys = max_keys
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    def lock_of(self, key: str, now: float) -> Lock | None:
        entry = self.entries.get(key)
        if entry is None or entry.locked_until <= now:
            return None
        entry.refusals += 1
        wait = max(1, math.ceil(entry.locked_until - now))
        return Lock(self.scope, key, wait, len(entry.failures))

    def fail(self, key: str, now: float, policy: WebSettings) -> Lock | None:
        entry = self.entries.pop(key, None) or _Entry()
        self.entries[key] = entry  # most recently failed last
        while entry.failures and entry.failures[0] <= now - policy.login_window_seconds:
            entry.failures.popleft()
        if not entry.failures:
            entry.locks = 0  # a quiet window forgives earlier locks
        entry.failures.append(now)
        while len(self.entries) > self.max_keys:
            self.entries.popitem(last=False)
        if len(entry.failures) < self.limit:
            return None
        entry.locks += 1
        seconds = min(
            policy.login_lock_seconds * 2 ** (entry.locks - 1), policy.login_lock_max_seconds
        )
        entry.locked_until = now + seconds
        entry.refusals = 0
        return Lock(self.scope, key, max(1, math.ceil(seconds)), len(entry.failures))

    def forget(self, key: str) -> None:
        self.entries.pop(key, None)


class LoginThrottle:
    """Counts failed logins per account name and per client address (thread-safe)."""

    def __init__(
        self,
        policy: WebSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._accounts = _Counter("account", policy.login_max_failures, max_keys)
        self._addresses = _Counter("address", policy.login_max_failures_per_address, max_keys)
        self._lock = threading.Lock()

    def check(self, name: str, address: str) -> Lock | None:
        """The lock refusing this attempt now (the longer of account and address), or None."""
        with self._lock:
            now = self.clock()
            locks = [
                lock
                for lock in (
                    self._accounts.lock_of(name, now),
                    self._addresses.lock_of(address, now),
                )
                if lock is not None
            ]
        return max(locks, key=lambda lock: lock.retry_after) if locks else None

    def first_refusal(self, lock: Lock) -> bool:
        """Whether ``lock`` refused its first attempt just now (those are audited, not all)."""
        counter = self._accounts if lock.scope == "account" else self._addresses
        with self._lock:
            entry = counter.entries.get(lock.key)
            return entry is not None and entry.refusals == 1

    def failed(self, name: str, address: str) -> list[Lock]:
        """Count a failed login; the locks it imposed (none, account, address or both)."""
        with self._lock:
            now = self.clock()
            made = [
                self._accounts.fail(name, now, self.policy),
                self._addresses.fail(address, now, self.policy),
            ]
        return [lock for lock in made if lock is not None]

    def succeeded(self, name: str) -> None:
        """A correct password: the account's count starts again."""
        with self._lock:
            self._accounts.forget(name)
