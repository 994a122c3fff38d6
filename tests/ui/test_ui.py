#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium, driven by Selenium
through chromedriver, against a real stack (redis-server, the API with a
token, workers running real tasks).

What an operator does on the page, and what the page must then show:
  1. opens /ui/, is asked for the token once, gives it; the queues appear
  2. sees jobs flow: the queue row, the workers' done counts
  3. a worker is killed -9 mid-job: the page shows it gone, and the job,
     looked up by id, ends done on the other worker with a 'lost' attempt
  4. a job dies (its task fails, one attempt): it is listed under the latest
     failures with its error, as text (markup in an error is not rendered);
     the task is fixed, the operator clicks retry, the job runs and is done
  5. another dead job is discarded with a click: gone from the list
  6. a job scheduled for later is looked up and cancelled with a click
  7. desktop and phone-sized windows: screenshots, and no sideways scrolling
     on the phone

Assertions read the page's text and elements, never pixels. Screenshots go
to OUT (default out/): ui-desktop.png, ui-phone.png, ui-job.png.

Usage: test_ui.py [--bin DIR] [--out DIR]
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WAIT_S = 20          # the longest any single step may take
LEASE = "2s"         # a killed worker's jobs go back after this
SLOW_MS = 6000       # the job the first worker is killed in the middle of
DESKTOP = (1280, 1000)
PHONE = (390, 844)   # a phone's CSS pixels


class Failed(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=WAIT_S):
    """Calls fn until it returns something true; fails naming what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (StaleElementReferenceException, urllib.error.URLError, ConnectionError) as e:
            last = e  # the page redrew under us, or a server is starting
        time.sleep(0.1)
    raise Failed(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last})" if last else ""))


class Stack:
    """redis-server, the API and workers as child processes; stop() ends
    every one of them (called on every exit path)."""

    def __init__(self, bindir, tmp):
        self.bin = bindir
        self.tmp = tmp
        self.procs = {}
        self.token = secrets.token_hex(16)
        self.redis_port = free_port()
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.marker = os.path.join(tmp, "fixed")
        self.flaky = os.path.join(tmp, "flaky.sh")
        with open(self.flaky, "w") as f:
            # fails (with markup in its error) until the marker file exists
            f.write("#!/bin/sh\n"
                    f"if [ ! -e '{self.marker}' ]; then\n"
                    "  echo 'flaky bug: <b>not bold</b>' >&2; exit 3\n"
                    "fi\n"
                    "echo '{\"fixed\":true}'\n")
        os.chmod(self.flaky, 0o755)

    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        log.close()
        return self.procs[name]

    def start(self):
        self.spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", self.tmp])
        env = dict(os.environ, API_TOKEN=self.token)
        self.spawn("api", [os.path.join(self.bin, "api"), "--listen", f"127.0.0.1:{self.api_port}",
                           "--redis", self.redis_url()], env=env)
        wait_for("the API's /readyz", lambda: self.status("/readyz") == 200)

    def redis_url(self):
        return f"redis://127.0.0.1:{self.redis_port}"

    def start_worker(self, wid):
        return self.spawn(wid, [os.path.join(self.bin, "worker"), "--redis", self.redis_url(), "--id", wid,
                                "--queues", "default,slow", "--lease", LEASE, "--heartbeat", "500ms",
                                "--task", f"flaky=exec:{self.flaky}"])

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def status(self, path):
        try:
            with urllib.request.urlopen(self.api + path, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def enqueue(self, **job):
        code, body = self.request("POST", "/jobs", job)
        if code != 202:
            raise Failed(f"POST /jobs {job} answered {code} {body}")
        return body["id"]

    def job(self, jid):
        code, body = self.request("GET", "/jobs/" + jid)
        return body if code == 200 else None


def browser(out):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver",
                      service_args=["--log-path=" + os.path.join(out, "chromedriver.log")])
    return webdriver.Chrome(service=service, options=opts)


class Page:
    """The dashboard as a user sees it: text of elements by id."""

    def __init__(self, d):
        self.d = d

    def by_id(self, i):
        return self.d.find_element(By.ID, i)

    def text(self, i):
        return self.by_id(i).text

    def rows(self, table):
        """The table's body rows, each a list of cell texts."""
        return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in self.by_id(table).find_elements(By.CSS_SELECTOR, "tbody tr")]

    def row_with(self, table, needle):
        for r in self.rows(table):
            if any(needle in c for c in r):
                return r
        return None

    def tr_with(self, table, needle):
        for tr in self.by_id(table).find_elements(By.CSS_SELECTOR, "tbody tr"):
            if needle in tr.text:
                return tr
        return None

    def running(self, jid):
        """The id of the worker the page shows running jid, or None."""
        for tr in self.by_id("workers").find_elements(By.CSS_SELECTOR, "tbody tr:not(.gone)"):
            links = tr.find_elements(By.CSS_SELECTOR, "a.job-link")
            if links and links[0].get_attribute("data-id") == jid:
                return tr.find_element(By.TAG_NAME, "td").text
        return None

    def look_up(self, jid):
        box = self.by_id("job-id")
        box.clear()
        box.send_keys(jid)
        self.by_id("lookup").find_element(By.TAG_NAME, "button").click()

    def job_field(self, name):
        """The value shown beside <dt>name</dt> in the job card, or None."""
        dts = self.by_id("job-fields").find_elements(By.TAG_NAME, "dt")
        dds = self.by_id("job-fields").find_elements(By.TAG_NAME, "dd")
        for dt, dd in zip(dts, dds):
            if dt.text == name:
                return dd.text
        return None

    def shown_state(self, jid):
        """Looks jid up and returns the state the page shows."""
        self.look_up(jid)
        return wait_for(f"job {jid} on the page",
                        lambda: self.job_field("id") == jid and self.job_field("state"))


def step(n, what):
    print(f"ui: step {n}: {what}", flush=True)


def run(stack, d, out):
    page = Page(d)

    step(1, "open /ui/, asked for the token once")
    d.get(stack.api + "/ui/")
    wait_for("the token form", lambda: page.by_id("auth").is_displayed())
    if stack.token in d.current_url:
        raise Failed("the token is in the URL")
    page.by_id("auth-token").send_keys(stack.token)
    page.by_id("auth").find_element(By.TAG_NAME, "button").click()
    wait_for("the status to say updated", lambda: page.text("status").startswith("updated"))
    if page.by_id("auth").is_displayed():
        raise Failed("the token form is still shown after the token was given")
    if stack.token in d.current_url:
        raise Failed("the token went into the URL")

    step(2, "jobs flow: 20 burn jobs on default, two workers")
    stack.start_worker("ui-worker-a")
    stack.start_worker("ui-worker-b")
    wait_for("two workers alive", lambda: "2 workers alive" in page.text("workers-alive"))
    ids = [stack.enqueue(task="burn", ms=20) for _ in range(20)]
    wait_for("the 20 jobs done", lambda: all((stack.job(i) or {}).get("state") == "done" for i in ids))

    def done_on_page():
        done = 0
        for wid in ("ui-worker-a", "ui-worker-b"):
            r = page.row_with("workers", wid)
            if not r:
                return False
            done += int(r[4])
        return done >= 20
    wait_for("the workers' done counts to add up to 20", done_on_page)
    wait_for("the default queue's row", lambda: page.row_with("queues", "default"))

    step(3, "kill -9 the worker running a long job; the job is recovered")
    stack.kill("ui-worker-b")  # one worker left to take the long job
    slow = stack.enqueue(task="burn", ms=SLOW_MS, queue="slow")
    wait_for("worker a running the long job on the page", lambda: page.running(slow) == "ui-worker-a")
    stack.kill("ui-worker-a")
    killed_at = time.monotonic()
    stack.start_worker("ui-worker-c")
    wait_for("worker a shown as gone", lambda: page.tr_with("workers", "ui-worker-a") is not None and
             "gone" in page.tr_with("workers", "ui-worker-a").get_attribute("class"))
    wait_for("the long job done again", lambda: (stack.job(slow) or {}).get("state") == "done",
             timeout=WAIT_S + SLOW_MS / 1000)
    recovered_s = time.monotonic() - killed_at
    if page.shown_state(slow) != "done":
        raise Failed("the recovered job is not shown done")
    if page.job_field("worker") != "ui-worker-c":
        raise Failed(f"the recovered job's worker is {page.job_field('worker')!r}, not ui-worker-c")
    hist = page.rows("history")
    if len(hist) != 2 or hist[0][1] != "ui-worker-a" or hist[0][4] != "lost" or hist[1][4] != "done":
        raise Failed(f"the recovered job's history on the page is {hist}")
    print(f"ui: the killed worker's job was done by another {recovered_s:.1f} s after the kill (lease {LEASE})")
    d.save_screenshot(os.path.join(out, "ui-job.png"))

    step(4, "a job dies; its error shows as text; fixed, retried with a click, done")
    dead = stack.enqueue(task="flaky", max_attempts=1)
    wait_for("the dead job in the latest failures", lambda: page.row_with("dead", dead[:12]))
    # its id is a link that looks the job up: dead, one attempt, the error
    page.tr_with("dead", dead[:12]).find_element(By.CSS_SELECTOR, "a.job-link").click()
    wait_for("the dead job in the job card", lambda: page.job_field("id") == dead and page.job_field("state") == "dead")
    hist = page.rows("history")
    if len(hist) != 1 or hist[0][4] != "error" or "flaky bug" not in hist[0][5]:
        raise Failed(f"the dead job's history on the page is {hist}")
    r = page.row_with("dead", dead[:12])
    if "flaky bug: <b>not bold</b>" not in r[3]:
        raise Failed(f"the dead job's error shows as {r[3]!r}")
    if page.by_id("dead").find_elements(By.TAG_NAME, "b"):
        raise Failed("markup in a job's error was rendered as HTML")
    q = page.row_with("queues", "default")
    if q[4] != "1":
        raise Failed(f"the default queue shows {q[4]} dead, not 1")
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(os.path.join(out, "ui-desktop.png"))
    open(stack.marker, "w").close()
    page.tr_with("dead", dead[:12]).find_element(By.XPATH, ".//button[text()='retry']").click()
    wait_for("the notice to say retried", lambda: page.text("notice") == "retried " + dead)
    wait_for("the retried job done", lambda: (stack.job(dead) or {}).get("state") == "done")
    wait_for("the retried job gone from the failures", lambda: page.row_with("dead", dead[:12]) is None)
    if page.shown_state(dead) != "done" or '"fixed":true' not in (page.job_field("result") or ""):
        raise Failed(f"the retried job shows {page.job_field('state')} with result {page.job_field('result')}")

    step(5, "another dead job, discarded with a click")
    os.unlink(stack.marker)
    gone = stack.enqueue(task="flaky", max_attempts=1)
    wait_for("the second dead job listed", lambda: page.row_with("dead", gone[:12]))
    page.tr_with("dead", gone[:12]).find_element(By.XPATH, ".//button[text()='discard']").click()
    wait_for("the notice to say discarded", lambda: page.text("notice") == "discarded " + gone)
    wait_for("the discarded job gone from the list", lambda: page.row_with("dead", gone[:12]) is None)
    wait_for("no dead jobs left", lambda: page.by_id("dead-none").is_displayed())
    code, _ = stack.request("GET", "/jobs/" + gone)
    if code != 404:
        raise Failed(f"the discarded job still answers {code}")

    step(6, "a job scheduled for later, cancelled with a click")
    later = stack.enqueue(task="burn", ms=1, delay="1h")
    if page.shown_state(later) != "scheduled":
        raise Failed("the delayed job is not shown scheduled")
    wait_for("the cancel button", lambda: page.by_id("job-cancel").is_displayed())
    page.by_id("job-cancel").click()
    wait_for("the job shown cancelled", lambda: page.job_field("state") == "cancelled")
    if (stack.job(later) or {}).get("state") != "cancelled":
        raise Failed("the API does not say the job is cancelled")
    if page.by_id("job-cancel").is_displayed():
        raise Failed("a cancelled job still offers the cancel button")

    step(7, "phone-sized window")
    d.set_window_size(*PHONE)
    wait_for("the page to redraw at phone size", lambda: d.execute_script("return window.innerWidth") <= PHONE[0])
    d.execute_script("window.scrollTo(0, 0)")
    time.sleep(1.2)  # one poll at the new size
    over = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if over > 0:
        wide = d.execute_script("""
            const w = document.documentElement.clientWidth, out = [];
            for (const e of document.querySelectorAll('body *')) {
              const r = e.getBoundingClientRect();
              if (r.right > w + 0.5 && e.offsetParent !== null) out.push(e.tagName + '#' + e.id + ' ' + Math.round(r.right));
            }
            return out.slice(0, 10);""")
        raise Failed(f"on a phone the page scrolls sideways by {over} px; wider than the page: {wide}")
    for card in ("queues-card", "workers-card", "dead-card", "job-card"):
        if not page.by_id(card).is_displayed():
            raise Failed(f"{card} is not shown on a phone")
    d.save_screenshot(os.path.join(out, "ui-phone.png"))

    # the page's script must have thrown nothing; of the network, only the
    # expected answers: 401 before the token was given, 404 for the discarded job
    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE" and not (
        e.get("source") == "network" and ("status of 401" in e["message"] or "status of 404" in e["message"]))]
    if errors:
        raise Failed(f"the browser's console has errors: {errors}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--out", default="out")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    out = os.path.abspath(a.out)
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="offload-ui.")
    stack = Stack(os.path.abspath(a.bin), tmp)
    d = None
    rc = 1
    try:
        stack.start()
        d = browser(out)
        run(stack, d, out)
        rc = 0
    except (Failed, WebDriverException, OSError) as e:
        print(f"ui: FAILED: {e}", file=sys.stderr)
        if d is not None:
            try:
                d.save_screenshot(os.path.join(out, "ui-failure.png"))
                print(f"ui: the page at the failure: {os.path.join(out, 'ui-failure.png')}", file=sys.stderr)
            except WebDriverException:
                pass
        print(f"ui: process logs kept in {tmp}", file=sys.stderr)
    finally:
        if d is not None:
            d.quit()
        stack.stop()
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"ui: all steps passed in {time.monotonic() - start:.1f} s; screenshots: "
              + ", ".join(os.path.join(a.out, f) for f in ("ui-desktop.png", "ui-job.png", "ui-phone.png")))
    return rc


if __name__ == "__main__":
    sys.exit(main())
