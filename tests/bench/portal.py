"""`make bench-portal`: how fast the portal shows its pages in headless Chromium, against its own stack.

Measures (medians over `--loads` loads per page, after one warm-up):
- time to first page: from starting the portal process to the sign-in page answering, and the first page
  load in a freshly started browser (navigation start → load event);
- per main page: server response (navigation start → response end) and load event, in the browser;
- the portal's cost over the service it wraps: the inbox page's response time / the raw
  `GET /api/v1/tasks` call for the same user and the same 20 tasks (a ratio; the machines are noisy).
"""

import argparse
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import httpx
from playwright.sync_api import Page

from devstack.stack import Stack
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.conftest import token, unique_bytes
from tests.integration.browser import launch, new_context

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
NAVIGATION_TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {response: n.responseEnd - n.startTime, load: n.loadEventEnd - n.startTime};
}"""


def upload_documents(stack: Stack, count: int) -> None:
    headers = token("clara", "clerk", secret=JWT_SECRET)
    with httpx.Client(timeout=60) as client:
        for index in range(count):
            answer = client.post(
                f"{stack.url('ingest')}/api/v1/documents",
                headers=headers,
                files={"file": (f"brief-{index}.pdf", unique_bytes("sf__minimal-document.pdf"), "application/pdf")},
                data={"workflow": "standard", "title": f"Bench-Brief {index}"},
            )
            answer.raise_for_status()


def wait_for_tasks(stack: Stack, count: int) -> list[dict]:
    headers = token("anton", "approver", secret=JWT_SECRET)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tasks = httpx.get(f"{stack.url('workflow')}/api/v1/tasks", headers=headers, timeout=30).json()
        if len(tasks) >= count:
            return tasks
        time.sleep(0.5)
    raise SystemExit("the tasks did not appear within 2 minutes")


def portal_start_to_first_page(stack: Stack) -> float:
    stack.services["portal"].stop()
    started = time.monotonic()
    stack.launch("portal")
    while True:
        try:
            with urllib.request.urlopen(f"{stack.url('portal')}/anmelden", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
        if time.monotonic() - started > 60:
            raise SystemExit("the portal did not answer within 60 s")


def sign_in(page: Page, base: str, user: str, role_label: str) -> None:
    page.goto(f"{base}/anmelden")
    page.get_by_label("Benutzername").fill(user)
    page.get_by_role("checkbox", name=role_label).check()
    page.get_by_role("button", name="Anmelden", exact=True).click()
    page.wait_for_load_state("load")


def measure(page: Page, url: str, loads: int) -> dict[str, float]:
    page.goto(url)  # warm-up
    responses, loaded = [], []
    for _ in range(loads):
        page.goto(url)
        page.wait_for_load_state("load")
        timing = page.evaluate(NAVIGATION_TIMING)
        responses.append(timing["response"])
        loaded.append(timing["load"])
    return {
        "response_ms_p50": round(statistics.median(responses), 1),
        "load_ms_p50": round(statistics.median(loaded), 1),
    }


def raw_tasks_ms(stack: Stack, loads: int) -> float:
    headers = token("anton", "approver", secret=JWT_SECRET)
    times = []
    with httpx.Client(timeout=30) as client:
        client.get(f"{stack.url('workflow')}/api/v1/tasks", headers=headers)
        for _ in range(loads):
            started = time.perf_counter()
            client.get(f"{stack.url('workflow')}/api/v1/tasks", headers=headers).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def run(stack: Stack, loads: int, documents: int) -> dict:
    start_s = portal_start_to_first_page(stack)
    upload_documents(stack, documents)
    tasks = wait_for_tasks(stack, documents)
    base = stack.url("portal")
    browser_started = time.monotonic()
    for browser in launch():
        page = new_context(browser).new_page()
        page.goto(f"{base}/anmelden")
        page.wait_for_load_state("load")
        first = page.evaluate(NAVIGATION_TIMING)
        cold_browser_s = time.monotonic() - browser_started
        pages = {"/anmelden": measure(page, f"{base}/anmelden", loads)}
        sign_in(page, base, "clara", "Sachbearbeitung")
        for path in ("/erfassen", "/dokumente"):
            pages[path] = measure(page, f"{base}{path}", loads)
        page.context.close()
        page = new_context(browser).new_page()
        sign_in(page, base, "anton", "Freigabe")
        for path in ("/aufgaben", f"/aufgaben/{tasks[0]['task_id']}"):
            pages[path] = measure(page, f"{base}{path}", loads)
        page.context.close()
    raw = raw_tasks_ms(stack, loads)
    inbox = pages["/aufgaben"]["response_ms_p50"]
    return {
        "portal_start_to_first_page_s": round(start_s, 2),
        "first_page_in_fresh_browser": {
            "browser_start_to_loaded_s": round(cold_browser_s, 2),
            "navigation_to_load_ms": round(first["load"], 1),
        },
        "pages": pages,
        "inbox_page_response_ms_p50": inbox,
        "raw_tasks_api_ms_p50": raw,
        "inbox_page_to_raw_api_ratio": round(inbox / raw, 2) if raw else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--output", type=Path, default=Path("bench-results/portal.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with bench_stack(JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}}) as stack:
        print(f"[bench] stack up; {args.loads} loads per page", file=sys.stderr, flush=True)
        measured = run(stack, args.loads, args.documents)
    result = {
        "benchmark": "portal pages in headless Debian Chromium (Playwright), loopback, SQLite, OCR off",
        "loads_per_page": args.loads,
        "tasks_in_inbox": args.documents,
        **measured,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
