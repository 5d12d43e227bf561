"""The clients of the sustained-ingest run (lab.ingest_load): threads that POST batches of
single transactions, stamped with the current second, at a steady total rate, and tally what
the API answered.

All traffic goes to the base URL given (127.0.0.1 in the load test); every loop is bounded in
count and in time.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from txmon.core.errors import TxmonError

# The status mix of the generated data: mostly approved, a few of each other status.
STATUS_WEIGHTS = {"approved": 0.90, "denied": 0.06, "failed": 0.02, "reversed": 0.02}
REQUEST_TIMEOUT_SECONDS = 30.0
ERROR_SAMPLES = 5


@dataclass
class ClientTally:
    """What one client sent and what the API answered."""

    latencies: list[float] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)
    rows_written: int = 0
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(text[:300])


def _events(rng: random.Random, prefix: str, count: int) -> list[dict[str, object]]:
    # The current second, UTC: inside any future horizon and next to the data already stored.
    stamp = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
    return [
        {
            "transaction_id": f"{prefix}-{item}",
            "created_at": stamp,
            "status": status,
            "amount": f"{rng.uniform(1, 500):.2f}",
            "channel": rng.choice(("pos", "ecommerce", "mobile")),
            "duration_ms": rng.randint(80, 2_000),
        }
        for item, status in enumerate(statuses)
    ]


def _client(
    number: int,
    base_url: str,
    token: str,
    run_id: str,
    rate: float,
    batch_size: int,
    first_due: float,
    ends_at: float,
    tally: ClientTally,
) -> None:
    """Post one batch every 1/rate seconds from first_due until ends_at. A client that falls
    behind sends at once, so the total rate holds while the server keeps up; when it does not,
    fewer requests go out in the time and the rate measured says so."""
    rng = random.Random(f"{run_id}-{number}")
    interval = 1.0 / rate
    # Bounded by count as well as time: never more requests than the rate allows.
    most = math.ceil((ends_at - first_due) * rate) + 1
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(
        base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False
    ) as client:
        for sequence in range(most):
            due = first_due + sequence * interval
            if due >= ends_at or time.monotonic() >= ends_at:
                break
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            events = _events(rng, f"load-{run_id}-{number}-{sequence}", batch_size)
            started = time.perf_counter()
            tally.requests += 1
            try:
                response = client.post("/transactions", json={"events": events})
            except httpx.HTTPError as error:
                tally.error(f"{type(error).__name__}: {error}")
                continue
            tally.latencies.append(time.perf_counter() - started)
            if not response.is_success:
                tally.error(f"HTTP {response.status_code}: {response.text}")
                continue
            try:
                tally.rows_written += int(response.json()["rows_written"])
            except (ValueError, KeyError, TypeError):
                tally.error(f"HTTP {response.status_code} without rows_written: {response.text}")
                continue
            tally.accepted_ids.extend(str(event["transaction_id"]) for event in events)


def post_traffic(
    base_url: str, token: str, clients: int, rate: float, batch_size: int, seconds: float
) -> tuple[list[ClientTally], float]:
    """Run the client threads for `seconds` at `rate` requests a second in total; their
    tallies and the seconds they took."""
    run_id = secrets.token_hex(4)
    tallies = [ClientTally() for _ in range(clients)]
    started = time.monotonic()
    ends_at = started + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(
                number,
                base_url,
                token,
                run_id,
                rate / clients,
                batch_size,
                # Staggered, so the batches of all clients arrive evenly spread.
                started + number / rate,
                ends_at,
                tallies[number],
            ),
            name=f"ingest-client-{number}",
            daemon=True,
        )
        for number in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A request in flight at the end may take its whole timeout.
        thread.join(max(0.0, ends_at - time.monotonic()) + REQUEST_TIMEOUT_SECONDS + 5)
    if any(thread.is_alive() for thread in threads):
        raise TxmonError("an ingest client did not finish within its request timeout")
    return tallies, time.monotonic() - started
