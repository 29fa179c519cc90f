"""The explorer page in a real (headless) Chromium: loaded from a file URL, driven like a user
(slider, hover, click, level switch, search), its numbers compared with seqgrad's in Python,
and checked to make no network request and log no console error.

With SEQGRAD_SCREENSHOTS=<folder> the run also saves the screenshots the docs show."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.bptt import hidden_grad_norms, weight_grad_contributions
from seqgrad.viz import explore, record

STEPS = 6


def _lstm_loss(steps: int, batch: int = 2, seed: int = 0):
    sg.manual_seed(seed)
    lstm, readout = nn.LSTM(2, 3), nn.Linear(3, 1)
    output, _ = lstm(sg.randn(steps, batch, 2))
    with sg.scope("readout"):
        loss = ((readout(output[-1]) - 1.0) ** 2).mean()
    return lstm, output, loss


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page of a 6-step LSTM (float64), and what Python says about the same graph."""
    previous = sg.get_default_dtype()
    sg.set_default_dtype(np.float64)
    try:
        lstm, output, loss = _lstm_loss(STEPS)
        path = tmp_path_factory.mktemp("explorer") / "page.html"
        written = explore(loss, path, level="cell")
        terms = weight_grad_contributions(loss, lstm.weight_hh_l0)
        with record():
            loss.backward()
        norms = hidden_grad_norms(loss)[("LSTM", 0, "forward")]
    finally:
        sg.set_default_dtype(previous)
    return {"path": path, "url": path.as_uri(), "page": written, "states": output.data, "norms": norms,
            "terms": terms, "weight_hh_grad": lstm.weight_hh_l0.grad}


def _open(browser, url: str):
    browser.get_log("browser")        # forget what earlier pages logged
    browser.get_log("performance")
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 10).until(
        lambda driver: driver.execute_script("return document.body && document.body.dataset.ready === '1' "
                                             "&& location.href === arguments[0]", url))
    return json.loads(browser.execute_script("return document.getElementById('explorer-data').textContent"))


def _classes(browser, element_id: str) -> set:
    return set(browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? Array.from(e.classList) : null", element_id))


def _set_frame(browser, frame: int) -> None:
    browser.execute_script("const s = document.getElementById('slider'); s.value = arguments[0];"
                           "s.dispatchEvent(new Event('input'));", frame)


def _hover(browser, element_id: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(browser).move_to_element(browser.find_element(By.ID, element_id)).perform()


def _click(browser, element_id: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(browser).move_to_element(browser.find_element(By.ID, element_id)).click().perform()


def _field(browser, container: str, field: str) -> float:
    value = browser.execute_script(
        f"return document.querySelector('{container} [data-field=\"{field}\"]').dataset.value")
    return float(value)


def test_page_is_one_file_that_requests_nothing_and_logs_no_error(browser, page):
    data = _open(browser, page["url"])
    requests = []   # (the document that asked, what it asked for)
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append((message["params"].get("documentURL"), message["params"]["request"]["url"]))
    assert [url for document, url in requests if document == page["url"]] == [page["url"]]   # only itself
    assert not [url for _, url in requests if not url.startswith(("file:", "data:", "chrome:", "about:"))]
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    text = page["path"].read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", text)   # no external resource at all
    assert set(data["levels"]) == {"op", "cell", "layer"}


def test_slider_lights_the_steps_backward_has_reached(browser, page):
    data = _open(browser, page["url"])
    browser.find_element("css selector", ".levels button[data-level='op']").click()
    step_clusters = {cluster_id: int(re.search(r"step (\d+)$", cluster["label"]).group(1))
                     for cluster_id, cluster in data["levels"]["op"]["clusters"].items() if "step_key" in cluster}
    assert sorted(step_clusters.values()) == list(range(STEPS))
    for frame in (0, 2, 4, len(data["frames"]) - 1):
        _set_frame(browser, frame)
        # What the captions say backward went through, up to this frame:
        passed = {int(step) for caption in data["frames"][1:frame + 1]
                  for step in re.findall(r"LSTMCell step (\d+)", caption)}
        lit = {step for cluster_id, step in step_clusters.items() if "lit" in _classes(browser, cluster_id)}
        assert lit == passed
        assert browser.find_element("id", "caption").text == data["frames"][frame]
    # Loss on the last output: backward reaches the last step first and step 0 last.
    first = next(frame for frame, caption in enumerate(data["frames"]) if "LSTMCell step" in caption)
    _set_frame(browser, first)
    assert {step for cluster_id, step in step_clusters.items() if "lit" in _classes(browser, cluster_id)} \
        == {STEPS - 1}
    assert "frontier" in _classes(browser, next(cluster_id for cluster_id, step in step_clusters.items()
                                                 if step == STEPS - 1))


def test_hovering_a_step_shows_its_state_values_and_gradient(browser, page):
    data = _open(browser, page["url"])
    step = 3
    unit_id = next(unit_id for unit_id, unit in data["levels"]["cell"]["units"].items()
                   if unit["kind"] == "group" and unit["scope"].get("step") == str(step))
    _hover(browser, unit_id)
    assert browser.find_element("id", "tip").is_displayed()
    state = page["states"][step]                          # h_3, (B, H)
    assert _field(browser, "#tip", "min") == state.min()
    assert _field(browser, "#tip", "max") == state.max()
    assert _field(browser, "#tip", "mean") == pytest.approx(state.mean(), rel=1e-14)
    assert _field(browser, "#tip", "grad") == pytest.approx(page["norms"][step], rel=1e-12)
    # ... and the plot's point of that step lights up with it.
    point = browser.execute_script(f"return document.querySelector('#plot .point[data-t=\"{step}\"]')")
    assert "hl" in point.get_attribute("class")


def test_hovering_a_plot_point_highlights_its_step(browser, page):
    data = _open(browser, page["url"])
    step = 1
    unit_id = next(unit_id for unit_id, unit in data["levels"]["cell"]["units"].items()
                   if unit["kind"] == "group" and unit["scope"].get("step") == str(step))
    _hover(browser, browser.execute_script(
        f"const p = document.querySelector('#plot .point[data-t=\"{step}\"]'); p.id = 'point-{step}'; return p.id"))
    assert "hl" in _classes(browser, unit_id)
    value = float(browser.execute_script(f"return document.getElementById('point-{step}').dataset.value"))
    assert value == pytest.approx(page["norms"][step], rel=1e-12)


def test_clicking_a_weight_draws_each_steps_share_of_its_gradient(browser, page):
    data = _open(browser, page["url"])
    weight_id = next(unit_id for unit_id, unit in data["levels"]["cell"]["units"].items()
                     if unit["title"] == "weight_hh_l0")
    _click(browser, weight_id)
    bars = browser.execute_script(
        "return Array.from(document.querySelectorAll('#bars .bar-rect')).map(b => [b.dataset.step, b.dataset.value])")
    expected = {step: np.linalg.norm(term) for step, term in page["terms"].items()}
    assert [int(step) for step, _ in bars] == sorted(expected) == list(range(STEPS))
    for step, value in bars:
        assert float(value) == pytest.approx(expected[int(step)], rel=1e-12, abs=1e-300)
    assert float(bars[0][1]) == 0.0     # h_0 = 0: step 0 adds nothing to W_hh's gradient
    assert sum(page["terms"].values()) == pytest.approx(page["weight_hh_grad"], rel=1e-12, abs=1e-15)
    assert _field(browser, "#bars", "mismatch") < 1e-12
    assert browser.find_element("css selector", "#details h2").text == "weight_hh_l0"


def test_level_switch_and_search(browser, page):
    data = _open(browser, page["url"])
    visible = "return Array.from(document.querySelectorAll('.view')).filter(v => !v.hidden).map(v => v.dataset.level)"
    assert browser.execute_script(visible) == ["cell"]
    for level in ("op", "layer", "cell"):
        browser.find_element("css selector", f".levels button[data-level='{level}']").click()
        assert browser.execute_script(visible) == [level]
        assert browser.execute_script("return document.body.dataset.level") == level
    browser.find_element("css selector", ".levels button[data-level='op']").click()
    search = browser.find_element("id", "search")
    search.send_keys("tanh")
    matched = browser.execute_script("return Array.from(document.querySelectorAll('.view:not([hidden]) .node.match'))"
                                     ".map(n => n.id)")
    tanh_ops = [unit_id for unit_id, unit in data["levels"]["op"]["units"].items() if unit.get("op") == "tanh"]
    assert sorted(matched) == sorted(tanh_ops) and len(tanh_ops) == 2 * STEPS   # candidate and cell-state tanh
    assert browser.find_element("id", "matches").text == f"{2 * STEPS} matches"
    search.clear()
    search.send_keys("weight_hh")
    matched = browser.execute_script("return Array.from(document.querySelectorAll('.view:not([hidden]) .node.match'))"
                                     ".map(n => n.id)")
    assert [data["levels"]["op"]["units"][unit_id]["title"] for unit_id in matched] == ["weight_hh_l0"]


def test_screenshots(browser, tmp_path_factory):
    """A 20-step LSTM: the page as it opens, mid-replay, and with W_hh's bars (saved for the docs
    when SEQGRAD_SCREENSHOTS names a folder)."""
    folder = Path(os.environ.get("SEQGRAD_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    _, _, loss = _lstm_loss(20, batch=1)
    path = tmp_path_factory.mktemp("explorer20") / "page.html"
    explore(loss, path, title="seqgrad explorer · LSTM, 20 steps, loss on the last output")
    data = _open(browser, path.as_uri())
    weight_id = next(unit_id for unit_id, unit in data["levels"]["cell"]["units"].items()
                     if unit["title"] == "weight_hh_l0")
    browser.execute_script("document.getElementById(arguments[0]).dispatchEvent(new MouseEvent('click', "
                           "{bubbles: true}))", weight_id)
    _set_frame(browser, 7)
    unit_id = next(unit_id for unit_id, unit in data["levels"]["cell"]["units"].items()
                   if unit["kind"] == "group" and unit["scope"].get("step") == "17")
    browser.execute_script("const node = document.getElementById(arguments[0]), r = node.getBoundingClientRect();"
                           "node.querySelector('text').dispatchEvent(new MouseEvent('mouseover', "
                           "{bubbles: true, clientX: r.x + r.width / 2, clientY: r.y + r.height}))", unit_id)
    assert browser.save_screenshot(str(folder / "explorer.png"))
    browser.find_element("css selector", ".levels button[data-level='op']").click()
    _set_frame(browser, 6)
    assert browser.save_screenshot(str(folder / "explorer_op_replay.png"))
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
