"""Real-browser helpers: the app served on a free loopback port, Debian's Chromium."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from tests._require import require_executable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def serve(app):
    """Serve ``app`` in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium(*, extra_args: tuple[str, ...] | list[str] = (), **context_args):
    """A headless Chromium context; ``extra_args`` are more command-line switches (e.g. a
    fake microphone: ``--use-fake-device-for-media-stream``)."""
    require_executable(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=[*CHROMIUM_ARGS, *extra_args])
        context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **context_args)
        try:
            yield context
        finally:
            context.close()
            browser.close()


@contextmanager
def background_jobs(app, every: float = 0.3):
    """Run the app's due background jobs (renders, kit builds) in a thread, as the
    scheduler process would beside a served app."""
    from scheduler.jobs import JobRunner

    stop = threading.Event()

    def loop():
        runner = JobRunner(app)
        while not stop.wait(every):
            runner.run_due()

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=10)


def sign_in(page, base: str, email: str, password: str | None = None) -> None:
    """Log in through the login form as a person does and wait for the home page."""
    from tests.helpers import PASSWORD

    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Mật khẩu").fill(password or PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")
