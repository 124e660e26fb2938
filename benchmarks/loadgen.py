"""A small HTTP load generator: N processes, keep-alive connections, latencies per request."""
import http.client
import multiprocessing as mp
import statistics
import time


def _worker(host: str, port: int, path: str, headers: dict, seconds: float, out) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies, errors, body_bytes = [], 0, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        latencies.append(time.perf_counter() - started)
        body_bytes = len(body)
        if resp.status != 200:
            errors += 1
    out.put((latencies, errors, body_bytes))


def run(port: int, path: str, headers: dict | None = None, seconds: float = 10.0, clients: int = 4,
        host: str = "127.0.0.1") -> dict:
    """Hammer one URL; returns requests/s, p50 and p99 latency in ms, errors and the body size."""
    out = mp.Queue()
    procs = [mp.Process(target=_worker, args=(host, port, path, headers or {}, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(r[1] for r in results),
        "body_bytes": results[0][2],
    }
