"""Helpers of the browser tests: waiting, and reading the page's Bokeh document and its text."""

from __future__ import annotations

import time
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

#: Every text node of the page, shadow roots included (Bokeh 3 renders its widgets in shadow DOM).
DEEP_TEXT = """
function deep(n) { let t = ''; if (n.shadowRoot) t += deep(n.shadowRoot);
  for (const c of n.childNodes) {
    if (c.nodeType === 3) t += c.textContent;
    else if (c.nodeType === 1 && !['STYLE', 'SCRIPT'].includes(c.tagName)) t += deep(c); }
  return t; }
return deep(document.body);
"""


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; returns its value, or None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def bokeh(driver, script: str):
    """Run ``script`` with ``doc`` bound to the page's Bokeh document (None before it exists)."""
    return driver.execute_script("const doc = (window.Bokeh && Bokeh.documents.length) ? Bokeh.documents[0] : null;"
                                 "if (doc === null) return null;" + script)


def plotted(driver) -> dict | None:
    """The page's plotted columns, as the browser holds them."""
    return bokeh(driver, "const s = doc.get_model_by_name('blocks'); if (!s) return null; const d = {};"
                         "for (const [k, v] of s.data.entries ? s.data.entries() : Object.entries(s.data))"
                         " d[k] = Array.from(v); return d;")
