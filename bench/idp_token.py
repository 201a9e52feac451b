"""Benchmark (not a test): token endpoint throughput and server CPU per request.

Sets up a throw-away instance, serves it with ``yiwang serve`` (gunicorn,
gthread workers), and drives it from a thread pool with keep-alive
connections:

1. ``client_credentials`` token requests: requests per second and server CPU
   milliseconds per request;
2. a whole authorization-code exchange: ``/authorize`` answered from the SSO
   session (a code without a password) and then ``/token`` redeeming the code
   (PKCE, ID token RS256, access token ES256, refresh token), CPU for each part.

Server CPU is read from ``/proc/<pid>/stat`` (utime + stime) of the gunicorn
master and workers before and after each phase, so the load generator's own
CPU does not count.

    .venv/bin/python bench/idp_token.py [--requests 4000] [--connections 32]
        [--workers 2] [--threads 4] [--database-url postgresql+psycopg://...]
        [--id-token-alg RS256|ES256]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from common import machine

ROOT = Path(__file__).resolve().parent.parent
YIWANG = ROOT / ".venv" / "bin" / "yiwang"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "benchmark password 1"
ID_NUMBER = "11010519491231002X"
REDIRECT_URI = "http://127.0.0.1:9/cb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(YIWANG), *args], env=env, input=stdin, text=True,
                            capture_output=True, check=False)
    if result.returncode != 0:
        sys.exit(f"yiwang {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def process_tree(root: int) -> list[int]:
    """The gunicorn master and every descendant (the workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


class Connection:
    """One keep-alive HTTP/1.1 connection per load thread."""

    local = threading.local()

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            self.local.conn = None
            raise
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            self.local.conn = None
        return response.status, dict(response.getheaders()), data


def phase(name: str, pids: list[int], count: int, connections: int, job: Any) -> dict[str, Any]:
    before = cpu_seconds(pids)
    started = time.perf_counter()
    failures = 0
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for ok in pool.map(job, range(count)):
            failures += 0 if ok else 1
    elapsed = time.perf_counter() - started
    used = cpu_seconds(pids) - before
    result = {"phase": name, "requests": count, "failures": failures,
              "requests_per_second": round(count / elapsed, 1),
              "server_cpu_ms_per_request": round(1000 * used / count, 3)}
    print(json.dumps(result, ensure_ascii=False))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--id-token-alg", default="RS256", choices=["RS256", "ES256"])
    parser.add_argument("--server-log", default="", help="File for the server's stderr.")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = dict(os.environ, YIWANG_INSTANCE=str(folder), YIWANG_ISSUER=issuer,
               YIWANG_LOG_LEVEL="WARNING", YIWANG_CODE_TTL="600")
    if args.database_url:
        env["YIWANG_DATABASE_URL"] = args.database_url
    server = None
    try:
        run(env, "init")
        backend = json.loads(run(env, "client", "add", "--name", "bench back end",
                                 "--grant-type", "client_credentials", "--scope", "vault.read",
                                 "--json"))
        web = json.loads(run(env, "client", "add", "--name", "bench portal", "--redirect-uri",
                             REDIRECT_URI, "--grant-type", "authorization_code", "--grant-type",
                             "refresh_token", "--scope", "openid", "--scope", "profile",
                             "--first-party", "--id-token-alg", args.id_token_alg, "--json"))
        run(env, "person", "add", "--id-number", ID_NUMBER, "--name", "压测",
            "--password-stdin", stdin=PASSWORD + "\n")

        server = subprocess.Popen(
            [str(YIWANG), "serve", "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.workers), "--threads", str(args.threads)],
            env=env, stdout=subprocess.DEVNULL,
            stderr=open(args.server_log, "w") if args.server_log else subprocess.DEVNULL)
        wait_until_up(port)
        pids = process_tree(server.pid)
        http_ = Connection(port)
        print(json.dumps({"machine": machine(), "workers": args.workers,
                          "threads": args.threads, "connections": args.connections,
                          "id_token_alg": args.id_token_alg,
                          "database": "postgresql" if args.database_url else "sqlite"}))

        basic = "Basic " + base64.b64encode(
            f"{backend['client_id']}:{backend['client_secret']}".encode()).decode()
        form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}

        def client_credentials(_: int) -> bool:
            return http_.request("POST", "/token", "grant_type=client_credentials", form)[0] == 200

        def discovery(_: int) -> bool:
            return http_.request("GET", "/.well-known/openid-configuration")[0] == 200

        phase("warm-up", pids, 500, args.connections, client_credentials)
        phase("floor: discovery document (no database, no signature)", pids, args.requests,
              args.connections, discovery)
        phase("client_credentials", pids, args.requests, args.connections, client_credentials)

        cookie = log_in(port, web["client_id"])
        verifiers: list[tuple[str, str]] = []
        lock = threading.Lock()

        def authorize(_: int) -> bool:
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            query = urlencode({"response_type": "code", "client_id": web["client_id"],
                               "redirect_uri": REDIRECT_URI, "scope": "openid profile",
                               "state": "s", "nonce": secrets.token_urlsafe(8),
                               "code_challenge": challenge, "code_challenge_method": "S256"})
            status, headers, _body = http_.request("GET", "/authorize?" + query,
                                                   headers={"Cookie": cookie})
            code = parse_qs(urlsplit(headers.get("Location", "")).query).get("code")
            if status != 303 or not code:
                return False
            with lock:
                verifiers.append((code[0], verifier))
            return True

        web_basic = "Basic " + base64.b64encode(
            f"{web['client_id']}:{web['client_secret']}".encode()).decode()
        web_form = {"Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": web_basic}

        def redeem(index: int) -> bool:
            code, verifier = verifiers[index]
            body = urlencode({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
            status, _, _ = http_.request("POST", "/token", body, web_form)
            return status == 200

        phase("authorize (SSO session, no password)", pids, args.codes, args.connections,
              authorize)
        phase("authorization_code token request", pids, len(verifiers), args.connections,
              redeem)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_up(port: int) -> None:
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("the server did not start")


def log_in(port: int, client_id: str) -> str:
    """Log in once through the HTML form; the SSO cookie for the code phase."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    conn.request("GET", "/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}))
    first = conn.getresponse()
    first.read()
    location = urlsplit(first.getheader("Location", "")).path
    cookies = [c.split(";", 1)[0] for c in first.headers.get_all("Set-Cookie") or []]
    conn.request("GET", location, headers={"Cookie": "; ".join(cookies)})
    page = conn.getresponse()
    cookies += [c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or []]
    html = page.read().decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        sys.exit("no login form")
    conn.request("POST", location, body=urlencode({
        "csrf_token": match.group(1), "username": ID_NUMBER, "password": PASSWORD}),
        headers={"Cookie": "; ".join(cookies),
                 "Content-Type": "application/x-www-form-urlencoded"})
    done = conn.getresponse()
    done.read()
    for header in done.headers.get_all("Set-Cookie") or []:
        if header.startswith("yiwang_sso="):
            return header.split(";", 1)[0]
    sys.exit("login failed")


if __name__ == "__main__":
    main()
