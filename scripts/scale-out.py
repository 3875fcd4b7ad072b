#!/usr/bin/env python3
"""The scale-out harness (docs/benchmarks.md, "Scale-out"): three authd processes on one
PostgreSQL database and one Redis, behind authd-lb, a round-robin TCP balancer (each new
connection goes to the next instance).

1. Checks that what one instance does is in force on every instance at the next
   request: a logout (revocation), a lockout, a role given and taken away, the login
   rate limit. Each request opens a new connection, so consecutive requests through the
   balancer reach different instances; each check also asks every instance directly.
2. Measures `GET /v1/auth/me` through the balancer with 1, 2 and 3 instances behind it
   (wrk, 32 connections, `--seconds` each), and prints a table.

Usage: python3 scripts/scale-out.py [--instances 3] [--seconds 10] [--cpu-per-instance F]

With --cpu-per-instance (Linux, cgroup v1 cpu controller, as root), each authd process
gets its own cgroup capped at F of one core, so that on a machine with few cores an
instance, not the machine, is the bound, as on a deployment where each instance has its
own small machine and the database a bigger one.
Needs: PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test),
Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379) and wrk (apt-get install wrk). It
builds the release binaries itself (into CARGO_TARGET_DIR when set) and drops its
database at the end. Exit status 1 when
a check fails.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
PASSWORD = "correct horse battery staple"
LOCKOUT_THRESHOLD = 3
LOGINS_PER_MIN = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None, client="198.51.100.1"):
    """One request on a new connection, from `client` as the balancer would say in
    `X-Forwarded-For` (the instances trust 127.0.0.1): (status, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Forwarded-For", client)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def wait_ready(base, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if call(base, "GET", "/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not become ready")


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")


class Harness:
    def __init__(self, instances, cpu_per_instance=None):
        admin_url = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
        self.redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
        self.db_name = f"authd_scale_{uuid.uuid4().hex}"
        self.admin_url = admin_url
        self.db_url = admin_url.rsplit("/", 1)[0] + "/" + self.db_name
        self.ports = [free_port() for _ in range(instances)]
        self.processes = []
        self.balancer = None
        self.lb_port = free_port()
        self.cpu_per_instance = cpu_per_instance
        self.cgroups = []

    def env(self, port):
        return {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "AUTHD_BIND": f"127.0.0.1:{port}",
            "LOCKOUT_THRESHOLD": str(LOCKOUT_THRESHOLD),
            "RATE_LIMIT_LOGIN_PER_MIN": str(LOGINS_PER_MIN),
            # Each check is its own client (X-Forwarded-For), with budgets of its own.
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "RUST_LOG": "warn",
        }

    def start(self):
        subprocess.run(["psql", self.admin_url, "-qc", f"CREATE DATABASE {self.db_name}"], check=True)
        authd = str(RELEASE / "authd")
        subprocess.run([authd, "migrate", "up"], env=self.env(0), check=True, stdout=subprocess.DEVNULL)
        for port in self.ports:
            process = subprocess.Popen([authd], env=self.env(port))
            self.processes.append(process)
            if self.cpu_per_instance:
                self.cap(process.pid)
        for port in self.ports:
            wait_ready(f"http://127.0.0.1:{port}")

    def cap(self, pid):
        """Moves the process (all its threads) into a new cgroup of its own, capped at
        `cpu_per_instance` of one core."""
        group = CGROUP_CPU / f"{self.db_name}_{len(self.cgroups)}"
        group.mkdir()
        self.cgroups.append(group)
        period = int((group / "cpu.cfs_period_us").read_text())
        (group / "cpu.cfs_quota_us").write_text(str(int(period * self.cpu_per_instance)))
        (group / "cgroup.procs").write_text(str(pid))

    def balance(self, count):
        """authd-lb in front of the first `count` instances."""
        if self.balancer:
            self.balancer.terminate()
            self.balancer.wait()
        backends = [f"127.0.0.1:{port}" for port in self.ports[:count]]
        self.balancer = subprocess.Popen([str(RELEASE / "authd-lb"), f"127.0.0.1:{self.lb_port}", *backends])
        wait_ready(self.lb)

    @property
    def lb(self):
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def instances(self):
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def stop(self):
        for process in [*self.processes, self.balancer]:
            if process:
                process.terminate()
                process.wait()
        for group in self.cgroups:
            group.rmdir()
        subprocess.run(
            ["psql", self.admin_url, "-qc", f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)"],
            check=False,
        )


class Checks:
    def __init__(self, harness):
        self.h = harness
        self.failures = []
        self.run = uuid.uuid4().hex[:8]
        # Rate-limit counters live in Redis for a minute: a run's clients are its own.
        self.network = f"10.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 256}"
        self.clients = 0
        self.client = self.next_client()

    def next_client(self):
        """A client address of its own, for a check's rate-limit budget."""
        self.clients += 1
        self.client = f"{self.network}.{self.clients}"
        return self.client

    def call(self, base, method, path, body=None, token=None):
        return call(base, method, path, body, token, self.client)

    def email(self, name):
        return f"{name}-{self.run}@example.com"

    def expect(self, what, got, want):
        line = f"  {'ok  ' if got == want else 'FAIL'} {what}: {got}"
        print(line if got == want else f"{line} (expected {want})")
        if got != want:
            self.failures.append(what)

    def everywhere(self, what, method, path, want, token=None, body=None):
        """The same request to every instance directly."""
        got = [self.call(base, method, path, body, token)[0] for base in self.h.instances]
        self.expect(f"{what}, on each instance", got, [want] * len(got))

    def register(self, name):
        email = self.email(name)
        status, _ = self.call(self.h.lb, "POST", "/v1/auth/register", {"email": email, "password": PASSWORD})
        assert status == 201, status
        return email

    def login(self, email):
        status, body = self.call(self.h.lb, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, (status, body)
        return body["session_token"]

    def revocation(self):
        self.next_client()
        print("revocation: logout through the balancer, then the token on every instance")
        token = self.login(self.register("revoked"))
        self.everywhere("me before the logout", "GET", "/v1/auth/me", 200, token)
        self.expect("logout", self.call(self.h.lb, "POST", "/v1/auth/logout", {}, token)[0], 204)
        self.expect("me at the next request", self.call(self.h.lb, "GET", "/v1/auth/me", token=token)[0], 401)
        self.everywhere("me after the logout", "GET", "/v1/auth/me", 401, token)

    def lockout(self):
        self.next_client()
        print(f"lockout: {LOCKOUT_THRESHOLD} wrong passwords spread over the instances")
        email = self.register("locked")
        wrong = {"email": email, "password": "not the password"}
        for base in self.h.instances * LOCKOUT_THRESHOLD:
            if self.call(base, "POST", "/v1/auth/login", wrong)[0] == 423:
                break
        right = {"email": email, "password": PASSWORD}
        self.everywhere("the right password", "POST", "/v1/auth/login", 423, body=right)

    def role_change(self, admin_token):
        self.next_client()
        print("role change: a role given and taken away through one instance")
        user_email = self.register("reader")
        token = self.login(user_email)
        status, body = self.call(self.h.lb, "GET", f"/v1/admin/users?email={user_email}", token=admin_token)
        user_id = body["users"][0]["id"]
        role = {"name": f"reader-{self.run}", "permissions": ["users:read"]}
        status, body = self.call(self.h.lb, "POST", "/v1/admin/roles", role, admin_token)
        assert status == 201, (status, body)
        role_id = body["role"]["id"]
        path = f"/v1/admin/users/{user_id}/roles/{role_id}"
        self.everywhere("users:read before", "GET", "/v1/admin/users", 403, token)
        first, second = self.h.instances[0], self.h.instances[1 % len(self.h.instances)]
        self.expect("role given on instance 1", self.call(first, "PUT", path, token=admin_token)[0], 204)
        self.expect("users:read on instance 2 at once", self.call(second, "GET", "/v1/admin/users", token=token)[0], 200)
        self.everywhere("users:read with the role", "GET", "/v1/admin/users", 200, token)
        self.expect("role taken on instance 1", self.call(first, "DELETE", path, token=admin_token)[0], 204)
        self.everywhere("users:read after", "GET", "/v1/admin/users", 403, token)

    def rate_limit(self):
        self.next_client()
        print(f"rate limit: {LOGINS_PER_MIN} logins a minute per email, counted in Redis")
        email = self.register("limited")
        body = {"email": email, "password": PASSWORD}
        statuses = [self.call(self.h.lb, "POST", "/v1/auth/login", body)[0] for _ in range(LOGINS_PER_MIN)]
        self.expect(f"{LOGINS_PER_MIN} logins through the balancer", statuses, [200] * LOGINS_PER_MIN)
        self.everywhere("one more", "POST", "/v1/auth/login", 429, body=body)


def admin_token(harness, checks):
    email = checks.email("admin")
    subprocess.run(
        [str(RELEASE / "authd"), "user", "create", "--email", email, "--role", "admin"],
        input=PASSWORD.encode(),
        env=harness.env(0),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return checks.login(email)


def throughput(harness, count, seconds, token):
    harness.balance(count)
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}",
         f"{harness.lb}/v1/auth/me"],
        check=True, capture_output=True, text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, p99, int(non_2xx.group(1)) if non_2xx else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--cpu-per-instance", type=float, default=None)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "authd", "-p", "authd-bench"], cwd=ROOT, check=True)
    harness = Harness(args.instances, args.cpu_per_instance)
    try:
        harness.start()
        harness.balance(args.instances)
        checks = Checks(harness)
        admin = admin_token(harness, checks)
        checks.revocation()
        checks.lockout()
        checks.role_change(admin)
        checks.rate_limit()
        checks.next_client()
        token = checks.login(checks.register("load"))
        cap = f", each instance capped at {args.cpu_per_instance} core" if args.cpu_per_instance else ""
        print(f"\n`me` through authd-lb, wrk -t2 -c32 -d{args.seconds}s, {os.cpu_count()} cores{cap}:\n")
        print("| instances | req/s | p99 | non-2xx |")
        print("|---:|---:|---:|---:|")
        for count in range(1, args.instances + 1):
            rate, p99, bad = throughput(harness, count, args.seconds, token)
            print(f"| {count} | {rate:,.0f} | {p99} | {bad} |")
    finally:
        harness.stop()
    if checks.failures:
        print(f"\nFAILED: {', '.join(checks.failures)}")
        sys.exit(1)
    print("\nevery check held on every instance")


if __name__ == "__main__":
    main()
