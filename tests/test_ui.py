"""The web page (``vc-ui``): the running server through its API, and the page in a real browser.

Both start the gradio server in this process on 127.0.0.1 at a free port, with the tiny trained
checkpoint. Skipped when gradio is not installed; the browser test also skips when Debian's chromium
and chromium-driver are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

gr = pytest.importorskip("gradio", reason="the web page needs gradio (pip install '.[ui]')")
gradio_client = pytest.importorskip("gradio_client")

from synth import speech_like  # noqa: E402

from vc.ui import jobs  # noqa: E402

SR = 16000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_ckpt, tmp_path_factory):
    """``(url, ckpt, workspace)`` of a running page; closed after the module."""
    from vc.ui.app import build_app, launch

    workspace = jobs.Workspace(tmp_path_factory.mktemp("ui_workspace"))
    demo = build_app(trained_ckpt, exp_root=trained_ckpt.parents[2], workspace=workspace)
    url = launch(demo, "127.0.0.1", _free_port(), prevent_thread_lock=True, quiet=True)
    yield url, trained_ckpt, workspace
    demo.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ui_audio") / "speech.wav"
    sf.write(path, speech_like(1.2, SR, f0=140.0, seed=3), SR)
    return path


def _request_dirs(workspace: jobs.Workspace) -> list[Path]:
    return [p for p in workspace.root.iterdir() if p.is_dir()]


def test_api_converts_and_reports_errors(server, clip, tmp_path):
    from gradio_client import Client, handle_file

    url, ckpt, workspace = server
    client = Client(url, verbose=False)

    audio, files, picture, status = client.predict(
        str(ckpt), handle_file(str(clip)), "training voice", "high", None, 5, 2, api_name="/convert")
    wav, sr = sf.read(audio)
    assert sr == SR and abs(len(wav) - sf.info(clip).frames) <= 1
    assert np.sqrt(np.mean(wav**2)) > 1e-3, "the conversion is silent"
    assert len(files) == 2 and "seeds 5..6" in status
    assert Path(picture).stat().st_size > 1000
    assert len(_request_dirs(workspace)) == 1

    # Bad input: a clear one-line message comes back, nothing is left behind, the server carries on.
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio\n")
    with pytest.raises(Exception, match="not a readable audio file") as info:
        client.predict(str(ckpt), handle_file(str(not_audio)), "training voice", "high", None, 0, 1,
                       api_name="/convert")
    assert "notes.wav" in str(info.value) and "Traceback" not in str(info.value)
    with pytest.raises(Exception, match=r"unknown target 'nobody'; available domains: high, low, mid"):
        client.predict(str(ckpt), handle_file(str(clip)), "training voice", "nobody", None, 0, 1,
                       api_name="/convert")
    with pytest.raises(Exception, match="reference clip gives one style"):
        client.predict(str(ckpt), handle_file(str(clip)), "reference clip (its voice)", "low",
                       handle_file(str(clip)), 0, 3, api_name="/convert")
    assert len(_request_dirs(workspace)) == 1, "a failed request left files behind"

    # Still answering: a reference-clip conversion, then a batch with one bad file among good ones.
    audio, _, _, status = client.predict(
        str(ckpt), handle_file(str(clip)), "reference clip (its voice)", "low",
        handle_file(str(clip)), 0, 1, api_name="/convert")
    assert sf.info(audio).frames > 0 and "reference clip" in status
    twin = tmp_path / "speech.wav"
    shutil.copy(clip, twin)
    zip_path, status = client.predict(
        str(ckpt), [handle_file(str(clip)), handle_file(str(twin)), handle_file(str(not_audio))], "low", 0,
        api_name="/convert_batch")
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(zf.namelist())
    assert names == ["failed.txt", "speech_2_to_low.wav", "speech_to_low.wav"], names
    assert "converted 2 of 3" in status and "notes.wav" in status

    # Choosing an experiment reloads its voices (from the converter cache).
    voices, batch_voices = client.predict(str(ckpt), api_name="/load_experiment")
    for update in (voices, batch_voices):
        assert [c[0] for c in update["choices"]] == ["high", "low", "mid"] and update["value"] == "high"


def test_jobs_refuse_long_sources(trained_ckpt, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(int(SR * (jobs.MAX_SOURCE_SECONDS + 1)), dtype=np.float32), SR)
    cache = jobs.ConverterCache()
    conv = cache.get(trained_ckpt)
    assert cache.get(str(trained_ckpt)) is conv, "a converter is loaded once"
    out = tmp_path / "req"
    out.mkdir()
    with pytest.raises(jobs.UserError, match=r"source 'long.wav': too long for the page \(61.0 s > 60 s\)"):
        jobs.convert_clip(conv, out, str(long), target="low")
    assert not out.exists()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium (selenium) with a fake microphone and no internet; quit afterwards."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1250", f"--user-data-dir={tmp_path / 'profile'}",
                 # A beeping fake microphone, allowed without asking, for the recording test.
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 # No internet for the page: every host but this one fails to resolve.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def _by_text(driver, css: str, text: str):
    """The first element matching ``css`` whose visible text is ``text``."""
    from selenium.webdriver.common.by import By

    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.text.strip() == text]
    return found[0] if found else False


def test_browser_converts(server, clip, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _, _ = server
    driver = browser
    wait = WebDriverWait(driver, 40)
    driver.get(url)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#source input[type=file]")))
    upload.send_keys(str(clip))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#source [data-testid^=waveform]")))
    voice = driver.find_element(By.CSS_SELECTOR, "#target input")
    voice.click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "li[role=option][aria-label=mid]"))).click()
    assert voice.get_attribute("value") == "mid"
    driver.find_element(By.CSS_SELECTOR, "#convert").click()
    # gradio draws the result as a waveform (wavesurfer) with a download link to the wav.
    link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#result a[download$='.wav']")))
    assert link.get_attribute("download") == "speech_to_mid_seed0.wav"
    assert driver.find_elements(By.CSS_SELECTOR, "#result [data-testid=waveform-result]")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "converted 1.2 s to mid"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#picture img")))
    time.sleep(0.5)  # let the waveform and the picture finish drawing before the screenshot
    shot = tmp_path / "ui.png"
    driver.save_screenshot(str(shot))
    if os.environ.get("VC_UI_SCREENSHOT"):  # docs/make_ui_screenshot.py
        shutil.copy(shot, os.environ["VC_UI_SCREENSHOT"])
    assert shot.stat().st_size > 10_000
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    elsewhere = [u for u in fetched if not u.startswith(url.rstrip("/")) and not u.startswith(("data:", "blob:"))]
    assert not elsewhere, f"the page fetched from outside the server: {elsewhere}"


def test_browser_records_from_microphone(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _, _ = server
    driver = browser
    wait = WebDriverWait(driver, 40)
    driver.get(url)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#source button[aria-label='Record audio']"))).click()
    wait.until(lambda d: _by_text(d, "#source button", "Record")).click()
    time.sleep(2)  # two seconds of the fake microphone's beeps
    wait.until(lambda d: _by_text(d, "#source button", "Stop")).click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#source a[download]")))
    driver.find_element(By.CSS_SELECTOR, "#convert").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#result a[download$='.wav']")))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "converted"))
