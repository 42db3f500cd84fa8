#!/usr/bin/env python3
"""Peer measurement: Label Studio 1.23 task dispatch throughput (next task + submit) under concurrent annotators.

Starts a throw-away Label Studio server (Django runserver, default SQLite database in a temp directory) on a
free localhost port, creates one admin and C annotator users (each with its own legacy API token), a project
with a 3-choice classification config and `maximum_annotations` = overlap, imports N tasks of ~1 KB, then runs
C annotator threads that loop GET /api/projects/{id}/next/ -> POST /api/tasks/{task}/annotations/ with no think
time, for a warm-up plus a measured window. Reports cycles/s, p50/p99 latency of next and of submit, and how
often one task was handed to more annotators than the overlap allows. Label Studio is stopped at the end, also
on error or Ctrl-C.

The client side uses only the Python standard library, so any python3 can run this file; Label Studio itself
lives in benches/peers/.venv-ls (made by benches/peers/label_studio_setup.sh, which this script runs when the
virtualenv is missing).

Example:
    python3 benches/peers/label_studio_dispatch.py --annotators 8 --overlap 1 --duration 60 --warmup 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV = os.path.join(HERE, ".venv-ls")
SETUP_SH = os.path.join(HERE, "label_studio_setup.sh")

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single" showInLine="true">
    <Choice value="positive"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
  </Choices>
</View>"""
CHOICES = ["positive", "negative", "neutral"]

# Runs inside the Label Studio virtualenv (Django set up against the same data dir) before the server starts:
# creates the annotator users in the one organization and prints their API tokens as JSON.
MAKE_USERS = r"""
import json, os, pathlib, sys
import label_studio
sys.path.insert(0, str(pathlib.Path(label_studio.__file__).parent))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'label_studio.core.settings.label_studio')
import django
django.setup()
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
n, password = int(sys.argv[1]), sys.argv[2]
org = Organization.objects.first()
out = []
for i in range(n):
    email = f'annotator{i}@bench.local'
    user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=password)
    org.add_user(user)
    user.active_organization = org
    user.save(update_fields=['active_organization'])
    token, _ = Token.objects.get_or_create(user=user)
    out.append({'email': email, 'token': token.key})
print('USERS_JSON ' + json.dumps(out))
"""


def log(msg: str) -> None:
    print(f"[ls-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class Api:
    """Minimal JSON client: one short-lived HTTP/1.1 connection per request (Connection: close)."""

    def __init__(self, port: int, token: str, timeout: float):
        self.port, self.token, self.timeout = port, token, timeout

    def call(self, method: str, path: str, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            headers = {"Authorization": f"Token {self.token}", "Accept": "application/json", "Connection": "close"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw[:300].decode(errors="replace")
            return resp.status, parsed
        finally:
            conn.close()


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def system_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have been busy (aggregate line of /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wait_for_idle(max_wait: float, threshold: float) -> None:
    """Waits (up to max_wait s) for a 5 s span in which the whole machine is busy below `threshold` cores."""
    deadline = time.monotonic() + max_wait
    while True:
        a = system_busy_seconds()
        time.sleep(5)
        b = system_busy_seconds()
        if a is None or b is None:
            return
        busy = (b - a) / 5
        if busy < threshold:
            log(f"machine idle ({busy:.2f} cores busy); starting")
            return
        if time.monotonic() >= deadline:
            log(f"machine still busy ({busy:.2f} cores) after {max_wait:.0f}s; starting anyway")
            return
        log(f"waiting for an idle machine: {busy:.2f} cores busy")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


class Server:
    def __init__(self, args):
        self.args = args
        self.venv = os.path.abspath(args.venv)
        self.bin = os.path.join(self.venv, "bin", "label-studio")
        self.py = os.path.join(self.venv, "bin", "python")
        self.own_data_dir = args.data_dir is None
        self.data_dir = os.path.abspath(args.data_dir or tempfile.mkdtemp(prefix="ls-bench-"))
        self.port = args.port or free_port()
        self.admin_token = secrets.token_hex(20)
        self.password = "bench-" + secrets.token_hex(8)
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.data_dir, "label-studio.log")
        self.env = dict(os.environ)
        self.env.update(
            {
                "LABEL_STUDIO_BASE_DATA_DIR": self.data_dir,
                "LOG_LEVEL": args.ls_log_level,
            }
        )
        if not args.ls_telemetry:
            # The machine has no network: Label Studio's default PyPI version check, analytics and Sentry error
            # reports (a DSN is built into the open-source settings) would each fail on DNS and retry inside the
            # server under test. Turned off unless --ls-telemetry; everything else stays Label Studio's default.
            self.env.update({"LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
                             "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""})
        for k in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN", "DATABASE_NAME"):
            self.env.pop(k, None)

    def ensure_installed(self):
        if not os.path.exists(self.bin):
            if self.args.no_setup:
                raise SystemExit(f"{self.bin} missing; run {SETUP_SH} first")
            log(f"installing Label Studio into {self.venv} via {SETUP_SH}")
            subprocess.run(["bash", SETUP_SH], check=True)
        out = subprocess.run([self.py, "-c", "import label_studio; print(label_studio.__version__)"],
                             check=True, capture_output=True, text=True, env=self.env)
        self.version = out.stdout.strip()
        log(f"Label Studio {self.version} from {self.venv}")

    def init(self, n_users: int) -> list[dict]:
        t0 = time.monotonic()
        cmd = [self.bin, "init", "-q", "--data-dir", self.data_dir, "--username", "admin@bench.local",
               "--password", self.password, "--user-token", self.admin_token, "--enable-legacy-api-token"]
        with open(self.log_path, "a") as lf:
            subprocess.run(cmd, check=True, env=self.env, stdout=lf, stderr=subprocess.STDOUT, timeout=900)
        log(f"init (migrations + admin user) took {time.monotonic() - t0:.1f}s; data dir {self.data_dir}")
        out = subprocess.run([self.py, "-c", MAKE_USERS, str(n_users), self.password], check=True,
                             capture_output=True, text=True, env=self.env, timeout=600)
        line = [l for l in out.stdout.splitlines() if l.startswith("USERS_JSON ")]
        if not line:
            raise RuntimeError(f"user creation printed no tokens: {out.stdout[-2000:]} {out.stderr[-2000:]}")
        return json.loads(line[-1][len("USERS_JSON "):])

    def start(self):
        cmd = [self.bin, "start", "--no-browser", "--data-dir", self.data_dir, "--internal-host", "127.0.0.1",
               "--port", str(self.port)]
        lf = open(self.log_path, "a")
        # Own session so that stop() can signal exactly this server's process group and nothing else.
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        lf.close()
        deadline = time.monotonic() + self.args.startup_timeout
        api = Api(self.port, self.admin_token, 5)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.tail_log())
            try:
                status, body = api.call("GET", "/health/")
                if status == 200:
                    log(f"server healthy on 127.0.0.1:{self.port} (pid {self.proc.pid}): {body}")
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"label-studio not healthy after {self.args.startup_timeout}s\n" + self.tail_log())

    def log_stats(self) -> dict:
        """Counts of the server's own error lines: SQLite lock errors, and Label Studio's 'it's a bug' overlap checks."""
        stats = {"db_locked_errors": 0, "overlap_bug_lines": 0}
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if "custom_exception_handler" in line and "database is locked" in line:
                        stats["db_locked_errors"] += 1
                    elif "[ERROR]" in line and ("it's a bug" in line or "that's a bug" in line):
                        stats["overlap_bug_lines"] += 1
        except OSError:
            pass
        return stats

    def tail_log(self, n=40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            log(f"stopping label-studio (pid {self.proc.pid})")
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        if self.args.server_log:
            try:
                shutil.copyfile(self.log_path, self.args.server_log)
            except OSError as e:
                log(f"could not copy server log: {e}")
        if self.own_data_dir and not self.args.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        elif self.own_data_dir:
            log(f"kept data dir {self.data_dir}")


def make_payload(rng: random.Random, size: int) -> str:
    words = []
    n = 0
    while n < size:
        w = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
        words.append(w)
        n += len(w) + 1
    return " ".join(words)[:size]


def setup_project(api: Api, args) -> int:
    status, body = api.call("POST", "/api/projects/", {
        "title": f"dispatch bench overlap={args.overlap}",
        "label_config": LABEL_CONFIG,
        "maximum_annotations": args.overlap,
    })
    if status not in (200, 201):
        raise RuntimeError(f"project creation failed: {status} {body}")
    pid = body["id"]
    log(f"project {pid}: maximum_annotations={body.get('maximum_annotations')} sampling={body.get('sampling')!r}")
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    done = 0
    while done < args.tasks:
        n = min(args.import_batch, args.tasks - done)
        batch = [{"data": {"text": make_payload(rng, args.payload_bytes), "seq": done + i}} for i in range(n)]
        status, body = api.call("POST", f"/api/projects/{pid}/import", batch)
        if status not in (200, 201):
            raise RuntimeError(f"import failed: {status} {body}")
        done += n
    log(f"imported {done} tasks (~{args.payload_bytes} B each) in {time.monotonic() - t0:.1f}s")
    return pid


def annotator(idx, api: Api, pid, t_end, stop, rec, lock, args):
    rng = random.Random(args.seed * 1000 + idx)
    local = []
    handed = []  # (task, t_returned)
    annotated = []  # (task, t_done)
    errors = defaultdict(int)
    while time.monotonic() < t_end and not stop.is_set():
        t0 = time.monotonic()
        try:
            status, body = api.call("GET", f"/api/projects/{pid}/next/")
        except OSError as e:
            errors[f"next:{type(e).__name__}"] += 1
            time.sleep(0.1)
            continue
        t1 = time.monotonic()
        if status == 404:
            errors["next:404-no-tasks"] += 1
            break
        if status != 200 or not isinstance(body, dict) or "id" not in body:
            errors[f"next:{status}"] += 1
            time.sleep(0.1)
            continue
        task = body["id"]
        local.append(("next", t0, t1, task))
        handed.append((task, t1))
        ann = {
            "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                        "value": {"choices": [rng.choice(CHOICES)]}}],
            "lead_time": round(t1 - t0, 3),
            "project": pid,
        }
        t2 = time.monotonic()
        try:
            status, body = api.call("POST", f"/api/tasks/{task}/annotations/?project={pid}", ann)
        except OSError as e:
            errors[f"submit:{type(e).__name__}"] += 1
            continue
        t3 = time.monotonic()
        if status not in (200, 201):
            errors[f"submit:{status}"] += 1
            continue
        local.append(("submit", t2, t3, task))
        annotated.append((task, t3))
    with lock:
        rec["ops"].extend((idx,) + op for op in local)
        rec["handed"].extend((idx,) + h for h in handed)
        rec["annotated"].extend((idx,) + a for a in annotated)
        for k, v in errors.items():
            rec["errors"][k] += v


def analyse(rec, t_warm, t_end, args, overlap):
    window = args.duration
    ops = rec["ops"]
    nexts = [t1 - t0 for (_, kind, t0, t1, _) in ops if kind == "next" and t_warm <= t0 and t1 <= t_end]
    submits = [t1 - t0 for (_, kind, t0, t1, _) in ops if kind == "submit" and t_warm <= t0 and t1 <= t_end]
    cycles = sum(1 for (_, kind, t0, t1, _) in ops if kind == "submit" and t_warm <= t1 <= t_end)

    handed_by_task = defaultdict(list)
    for user, task, t in rec["handed"]:
        handed_by_task[task].append((t, user))
    ann_by_task = defaultdict(list)
    for user, task, t in rec["annotated"]:
        ann_by_task[task].append((t, user))

    def dispatch_stats(tasks):
        at_once = 0  # >=2 distinct annotators got it from /next before its first annotation was stored
        over = 0  # more distinct annotators than the overlap got it at all
        over_ann = 0  # more annotations stored than the overlap
        fanout = defaultdict(int)
        for task in tasks:
            hs = handed_by_task[task]
            anns = sorted(ann_by_task.get(task, []))
            first_ann = anns[0][0] if anns else float("inf")
            users_before = {u for (t, u) in hs if t <= first_ann}
            users_all = {u for (_, u) in hs}
            if len(users_before) >= 2:
                at_once += 1
            if len(users_all) > overlap:
                over += 1
                fanout[len(users_all)] += 1
            if len(anns) > overlap:
                over_ann += 1
        n = len(tasks)
        return {
            "tasks_handed_out": n,
            "tasks_handed_to_2plus_before_first_annotation": at_once,
            "share_handed_to_2plus_before_first_annotation": round(at_once / n, 4) if n else None,
            "tasks_handed_to_more_than_overlap": over,
            "share_handed_to_more_than_overlap": round(over / n, 4) if n else None,
            "fanout_of_over_dispatched_tasks": {str(k): v for k, v in sorted(fanout.items())},
            "tasks_with_more_annotations_than_overlap": over_ann,
        }

    all_tasks = list(handed_by_task)
    window_tasks = [t for t in all_tasks if t_warm <= min(x for x, _ in handed_by_task[t]) <= t_end]
    repeat_same_user = sum(
        1 for task, hs in handed_by_task.items() for u in {u for _, u in hs} if sum(1 for _, x in hs if x == u) > 1
    )

    def ms(x):
        return None if x is None else round(x * 1000, 1)

    return {
        "cycles": cycles,
        "cycles_per_s": round(cycles / window, 2),
        "next": {"n": len(nexts), "p50_ms": ms(percentile(nexts, 0.5)), "p99_ms": ms(percentile(nexts, 0.99)),
                 "max_ms": ms(max(nexts) if nexts else None)},
        "submit": {"n": len(submits), "p50_ms": ms(percentile(submits, 0.5)), "p99_ms": ms(percentile(submits, 0.99)),
                   "max_ms": ms(max(submits) if submits else None)},
        "dispatch_whole_run": dispatch_stats(all_tasks),
        "dispatch_measured_window": dispatch_stats(window_tasks),
        "same_user_handed_same_task_twice": repeat_same_user,
        "annotations_stored_total": len(rec["annotated"]),
        "errors": dict(rec["errors"]),
    }


def run(args) -> dict:
    srv = Server(args)
    srv.ensure_installed()
    try:
        users = srv.init(args.annotators)
        srv.start()
        admin = Api(srv.port, srv.admin_token, args.request_timeout)
        pid = setup_project(admin, args)
        apis = [Api(srv.port, u["token"], args.request_timeout) for u in users]
        # every annotator token must authenticate before the clock starts
        for u, api in zip(users, apis):
            status, body = api.call("GET", "/api/current-user/whoami")
            if status != 200:
                raise RuntimeError(f"token of {u['email']} rejected: {status} {body}")
        if args.wait_idle > 0:
            wait_for_idle(args.wait_idle, args.idle_threshold)
        rec = {"ops": [], "handed": [], "annotated": [], "errors": defaultdict(int)}
        lock, stop = threading.Lock(), threading.Event()
        cpu0, load0 = proc_cpu_seconds(srv.proc.pid), loadavg()
        t_start = time.monotonic()
        t_warm = t_start + args.warmup
        t_end = t_warm + args.duration
        log(f"running {args.annotators} annotators: {args.warmup}s warm-up + {args.duration}s measured "
            f"(loadavg before: {load0})")
        threads = [threading.Thread(target=annotator, args=(i, apis[i], pid, t_end, stop, rec, lock, args),
                                    daemon=True) for i in range(args.annotators)]
        for t in threads:
            t.start()
        cpu_warm = sys_warm = self_warm = None
        while any(t.is_alive() for t in threads):
            if cpu_warm is None and time.monotonic() >= t_warm:
                cpu_warm = proc_cpu_seconds(srv.proc.pid)
                sys_warm, self_warm = system_busy_seconds(), proc_cpu_seconds(os.getpid())
            if time.monotonic() > t_end + args.request_timeout + 5:
                stop.set()
                break
            time.sleep(0.2)
        for t in threads:
            t.join(timeout=args.request_timeout + 5)
        cpu1, load1 = proc_cpu_seconds(srv.proc.pid), loadavg()
        sys1, self1 = system_busy_seconds(), proc_cpu_seconds(os.getpid())
        span = time.monotonic() - t_warm
        other = None
        if None not in (cpu_warm, cpu1, sys_warm, sys1, self_warm, self1):
            other = round(((sys1 - sys_warm) - (cpu1 - cpu_warm) - (self1 - self_warm)) / span, 2)
        res = analyse(rec, t_warm, t_end, args, args.overlap)
        res.update({
            "peer": "label-studio",
            "version": srv.version,
            "server": "label-studio start (Django runserver, threaded), SQLite, DEBUG off",
            "annotators": args.annotators,
            "overlap": args.overlap,
            "tasks": args.tasks,
            "payload_bytes": args.payload_bytes,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "server_cpu_s_per_s_measured": (round((cpu1 - cpu_warm) / span, 2)
                                            if cpu1 is not None and cpu_warm is not None else None),
            "client_cpu_s_per_s": (round((self1 - self_warm) / span, 2)
                                   if self1 is not None and self_warm is not None else None),
            "other_processes_cpu_s_per_s": other,
            "server_log": srv.log_stats(),
            "telemetry": bool(args.ls_telemetry),
            "loadavg_before": load0,
            "loadavg_after": load1,
            "cpus": os.cpu_count(),
        })
        return res
    finally:
        srv.stop()


def table(res: dict) -> str:
    d = res["dispatch_whole_run"]
    rows = [
        ("Label Studio", res["version"]),
        ("annotators / overlap / tasks", f"{res['annotators']} / {res['overlap']} / {res['tasks']}"),
        ("window", f"{res['warmup_s']}s warm-up + {res['duration_s']}s measured"),
        ("next+submit cycles/s", f"{res['cycles_per_s']} ({res['cycles']} cycles)"),
        ("next p50 / p99 / max (ms)", f"{res['next']['p50_ms']} / {res['next']['p99_ms']} / {res['next']['max_ms']}"),
        ("submit p50 / p99 / max (ms)",
         f"{res['submit']['p50_ms']} / {res['submit']['p99_ms']} / {res['submit']['max_ms']}"),
        ("tasks handed out (whole run)", d["tasks_handed_out"]),
        ("  to >=2 annotators before 1st annotation",
         f"{d['tasks_handed_to_2plus_before_first_annotation']} ({pct(d['share_handed_to_2plus_before_first_annotation'])})"
         + ("" if res["overlap"] == 1 else "  [allowed when overlap > 1]")),
        ("  to > overlap annotators",
         f"{d['tasks_handed_to_more_than_overlap']} ({pct(d['share_handed_to_more_than_overlap'])}) "
         f"fan-out {d['fanout_of_over_dispatched_tasks']}"),
        ("  with > overlap annotations stored", d["tasks_with_more_annotations_than_overlap"]),
        ("server CPU (cores busy, measured)", res["server_cpu_s_per_s_measured"]),
        ("client CPU / other processes' CPU (cores)",
         f"{res['client_cpu_s_per_s']} / {res['other_processes_cpu_s_per_s']} of {res['cpus']}"),
        ("server log: 'database is locked' / overlap 'bug' lines",
         f"{res['server_log']['db_locked_errors']} / {res['server_log']['overlap_bug_lines']}"),
        ("loadavg before -> after", f"{res['loadavg_before']} -> {res['loadavg_after']}"),
        ("errors", res["errors"] or "none"),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


def pct(x):
    return "n/a" if x is None else f"{x * 100:.1f}%"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", type=int, default=2000, help="tasks to import")
    p.add_argument("--payload-bytes", type=int, default=1024, help="size of each task's text payload")
    p.add_argument("--annotators", "-c", type=int, default=8, help="concurrent annotators (threads, one user each)")
    p.add_argument("--overlap", type=int, default=1, help="project maximum_annotations")
    p.add_argument("--duration", type=float, default=60, help="measured seconds (after the warm-up)")
    p.add_argument("--warmup", type=float, default=10, help="warm-up seconds, not measured")
    p.add_argument("--port", type=int, default=0, help="localhost port for Label Studio (0: pick a free one)")
    p.add_argument("--venv", default=DEFAULT_VENV, help="virtualenv holding label-studio 1.23.x")
    p.add_argument("--no-setup", action="store_true", help="fail instead of running label_studio_setup.sh")
    p.add_argument("--data-dir", default=None, help="Label Studio data dir (default: a fresh temp dir, removed)")
    p.add_argument("--keep-data", action="store_true", help="keep the temp data dir (SQLite db, server log)")
    p.add_argument("--server-log", default=None, help="copy Label Studio's own log here before cleaning up")
    p.add_argument("--import-batch", type=int, default=500, help="tasks per import request")
    p.add_argument("--request-timeout", type=float, default=60, help="per-request HTTP timeout in seconds")
    p.add_argument("--startup-timeout", type=float, default=300, help="seconds to wait for /health/")
    p.add_argument("--ls-log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--ls-telemetry", action="store_true",
                   help="leave Label Studio's version check, analytics and Sentry on (they fail without network)")
    p.add_argument("--wait-idle", type=float, default=0,
                   help="before the annotators start, wait up to this many seconds for the machine to go idle "
                        "(other processes' CPU skews the numbers; reported as other_processes_cpu_s_per_s)")
    p.add_argument("--idle-threshold", type=float, default=0.3, help="cores busy that count as idle for --wait-idle")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json-out", default=None, help="also write the JSON summary to this file")
    args = p.parse_args(argv)
    if args.annotators < 1 or args.overlap < 1 or args.tasks < 1 or args.duration <= 0:
        p.error("annotators, overlap, tasks and duration must be positive")

    # SIGTERM -> KeyboardInterrupt so that the finally-block stops Label Studio
    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    res = run(args)
    print(table(res))
    line = json.dumps(res, sort_keys=True)
    print(line, flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
