"""The vendor simulator: one local HTTP server, every vendor under its own URL prefix.

``http://127.0.0.1:PORT/<vendor>/<the vendor's real path>`` answers like the vendor would
(paths, envelopes, auth, paging, rate-limit headers: ../shared/vendor-apis.md), so a
connector's base URL is ``http://127.0.0.1:PORT/<vendor>``.
``http://127.0.0.1:PORT/_sim/<vendor>/<action>`` is the control plane (mutate, truth,
faults, stats, reset) so another process can drive a simulator started by
:func:`serve_forever`.

Vendors plug in generically: ``connectors/<type>/simulator.py`` defines a :class:`VendorSim`
subclass decorated with :func:`register`; :func:`discover` imports it for every connector type,
so adding a vendor never touches this package.
"""
from __future__ import annotations

import signal
import threading
from typing import Any
from urllib.parse import parse_qs

import orjson

from nexus_sync.simulator.config import SimConfig
from nexus_sync.simulator.httpd import SimHTTPServer
from nexus_sync.simulator.messages import Request, Response, json_response
from nexus_sync.simulator.registry import discover
from nexus_sync.simulator.vendor import VendorSim

CONTROL_PREFIX = "_sim"


class Simulator:
    """Serves every registered vendor; see the module docstring."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self._vendor_classes = discover()
        for knob in ("sizes", "credentials", "rate_limit"):
            unknown = sorted(set(getattr(self.config, knob) or {}) - set(self._vendor_classes))
            if unknown:
                raise ValueError(f"SimConfig.{knob}: unknown vendor(s) {unknown}; simulated: {sorted(self._vendor_classes)}")
        self._server = SimHTTPServer((self.config.host, self.config.port), self)
        address = self._server.server_address
        host, port = str(address[0]), int(address[1])
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.port: int = port
        self.url: str = f"http://{shown}:{port}"
        self._thread: threading.Thread | None = None
        try:
            self.vendors: dict[str, VendorSim] = {name: cls(self) for name, cls in self._vendor_classes.items()}
        except BaseException:
            self._server.server_close()
            raise

    # ---- lifecycle

    def start(self) -> "Simulator":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"nexus-sim:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
        for vendor in self.vendors.values():
            vendor.close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- Python API

    def vendor(self, vendor: str) -> VendorSim:
        try:
            return self.vendors[vendor]
        except KeyError:
            raise ValueError(f"unknown vendor {vendor!r}; simulated: {sorted(self.vendors)}") from None

    def base_url(self, vendor: str) -> str:
        return self.vendor(vendor).base_url(f"{self.url}/{vendor}")

    def mutate(self, vendor: str, fraction: float) -> list[str]:
        return self.vendor(vendor).mutate(fraction)[0]

    def truth(self, vendor: str) -> dict[str, dict]:
        return self.vendor(vendor).truth()

    def set_faults(self, vendor: str, **faults: Any) -> None:
        self.vendor(vendor).set_faults(**faults)

    def stats(self, vendor: str) -> dict[str, Any]:
        return self.vendor(vendor).get_stats()

    def reset(self, vendor: str) -> None:
        self.vendor(vendor).reset()

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "seed": self.config.seed,
            "vendors": {
                name: {"base_url": self.base_url(name), "size": len(v.order), "round": v.round,
                       "credentials": dict(v.credentials), "rate_limit_per_minute": v.limiter.limit,
                       "config": v.connector_config()}
                for name, v in self.vendors.items()
            },
            "control": f"{self.url}/{CONTROL_PREFIX}/{{vendor}}/{{mutate|truth|faults|stats|reset}}",
        }

    # ---- HTTP dispatch

    def dispatch(self, method: str, path: str, raw_query: str, headers: Any, body: bytes) -> Response:
        parts = path.split("/", 2)  # "", first segment, rest
        first = parts[1] if len(parts) > 1 else ""
        if first == CONTROL_PREFIX:
            return self._control(method, path, body)
        vendor = self.vendors.get(first)
        if vendor is None:
            return json_response(404, {"error": f"no simulated vendor at /{first}",
                                       "vendors": {n: self.base_url(n) for n in self.vendors}})
        host = headers.get("Host") or self.url.split("//", 1)[1]
        req = Request(method=method.upper(), path="/" + (parts[2] if len(parts) > 2 else ""),
                      query=parse_qs(raw_query, keep_blank_values=True), raw_query=raw_query,
                      headers=headers, body=body, base_url=f"http://{host}/{first}")
        return vendor.handle(req)

    def _control(self, method: str, path: str, body: bytes) -> Response:
        parts = [p for p in path.split("/") if p][1:]
        if not parts:
            return json_response(200, self.describe())
        if len(parts) != 2:
            return json_response(404, {"error": "use /_sim/{vendor}/{mutate|truth|faults|stats|reset}"})
        name, action = parts
        if name not in self.vendors:
            return json_response(404, {"error": f"unknown vendor {name!r}", "vendors": sorted(self.vendors)})
        vendor = self.vendors[name]
        try:
            payload = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return json_response(400, {"error": "body is not valid JSON"})
        if not isinstance(payload, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        try:
            if action == "mutate" and method == "POST":
                ids, round_no = vendor.mutate(payload.get("fraction", 0.1))
                return json_response(200, {"changed": len(ids), "round": round_no, "ids": ids})
            if action == "truth" and method == "GET":
                return Response(200, b'{"records":' + vendor.truth_bytes() + b"}")
            if action == "faults" and method == "POST":
                return json_response(200, {"faults": vendor.set_faults(**payload)})
            if action == "faults" and method == "GET":
                return json_response(200, {"faults": vendor.faults})
            if action == "stats" and method == "GET":
                return json_response(200, vendor.get_stats())
            if action == "reset" and method == "POST":
                vendor.reset()
                return json_response(200, {"reset": name, "round": vendor.round})
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(404 if action not in {"mutate", "truth", "faults", "stats", "reset"} else 405,
                             {"error": f"{method} /_sim/{name}/{action} is not a control action"})


def serve_forever(config: SimConfig) -> None:
    """Blocking: serve until SIGTERM/SIGINT (for `nexus-sync simulator serve`)."""
    sim = Simulator(config).start()
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    info = sim.describe()
    print(f"nexus-sync vendor simulator listening on {sim.url} (seed {config.seed})", flush=True)
    for name, v in info["vendors"].items():
        creds = " ".join(f"{k}={val}" for k, val in v["credentials"].items())
        print(f"  {name:<14} {v['base_url']:<40} {v['size']:>7} records  {creds}", flush=True)
    print(f"  control: {info['control']}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("nexus-sync vendor simulator stopped", flush=True)
