"""The report renders in a real headless browser, with every figure decoded (Debian's chromium).

`make test` installs chromium when it can (root + apt); elsewhere these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import CHROMIUM as BROWSER
from tests.conftest import NO_CHROMIUM

pytestmark = pytest.mark.skipif(BROWSER is None, reason=NO_CHROMIUM)

# Added to a copy of the report only: counts the images the browser actually decoded.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({n: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    widths: imgs.map(i => i.naturalWidth), h2: [...document.querySelectorAll('h2')].length});
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", *args], capture_output=True, text=True, timeout=timeout)


def test_report_renders_with_every_figure(seeds_run, tmp_path):
    html = (seeds_run / "report.html").read_text()
    n_figures = len(list((seeds_run / "figures").glob("*.png")))
    assert html.count("<img") == n_figures > 0
    # The probe needs script: drop the page's CSP (which forbids it) in the copy, nothing else.
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", PROBE + "</body>")
    page = tmp_path / "probe.html"
    page.write_text(probe)
    r = _chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert m, f"no probe output; chromium said: {r.stderr[-500:]}"
    seen = json.loads(m.group(1).replace("&quot;", '"'))
    assert seen["n"] == n_figures and seen["decoded"] == n_figures, seen
    assert min(seen["widths"]) >= 300 and seen["h2"] >= 4


def test_report_screenshot(seeds_run, tmp_path):
    shot = tmp_path / "report.png"
    _chromium("--window-size=1280,4000", f"--screenshot={shot}", (seeds_run / "report.html").as_uri())
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
