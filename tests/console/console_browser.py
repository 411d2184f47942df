#!/usr/bin/python3
"""The staff console in a real browser (headless Chromium through Selenium).

Run by tests/integration/console_test.cpp against a running orderflowd whose
database holds two flagged orders; it prints one line per step and exits 0
when every step passed, 1 at the first that did not (saying what it saw).

  console_browser.py --url http://127.0.0.1:PORT --staff NAME:PASSWORD
      --operator NAME:PASSWORD --order ORDER_ID --review ID --untouched ID
      --buyer-text TEXT [--shots DIR]

--order/--review: the flagged order staff resolve; --untouched: another open
item that a request without the CSRF token must leave open. --buyer-text:
the flagged order's buyer's chat message, which a rule captured as the
order's engraving: it must be in the conversation and on the order page.
--shots: where
the screenshots go (docs/console/ when taken for the documentation).
"""
import argparse
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


class Failed(Exception):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--staff", required=True)
    ap.add_argument("--operator", required=True)
    ap.add_argument("--order", required=True)
    ap.add_argument("--review", required=True)
    ap.add_argument("--untouched", required=True)
    ap.add_argument("--buyer-text", required=True)
    ap.add_argument("--shots", default="")
    a = ap.parse_args()

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--lang=en-US", "--no-first-run", "--disable-extensions",
                 "--disable-background-networking", "--disable-sync", "--disable-component-update"):
        opts.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    except WebDriverException as e:
        print("FAIL could not start headless Chromium (Debian packages chromium, chromium-driver): %s" % e.msg)
        return 1
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    steps = Steps(driver, a)
    try:
        steps.run()
    except (Failed, WebDriverException) as e:
        # A wait that timed out says only that: what the browser showed then
        # tells why (an error page, the form still there, a 429).
        print("FAIL %s" % (e if isinstance(e, Failed) else "%s: %s" % (type(e).__name__, e.msg)))
        try:
            print("     at %s" % driver.current_url)
            shown = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
            print("     the page says: %r" % shown[:600])
        except WebDriverException:
            pass
        return 1
    finally:
        driver.quit()
    print("ok: every step passed")
    return 0


class Steps:
    def __init__(self, driver, a):
        self.d = driver
        self.a = a
        self.base = a.url.rstrip("/")

    def step(self, text):
        print("ok   " + text, flush=True)

    def check(self, cond, what):
        if not cond:
            raise Failed(what)

    def shot(self, name):
        if self.a.shots:
            os.makedirs(self.a.shots, exist_ok=True)
            self.d.save_screenshot(os.path.join(self.a.shots, name + ".png"))

    def go(self, path):
        self.d.get(self.base + path)

    def find(self, css):
        found = self.d.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def text(self, css):
        e = self.find(css)
        return e.text if e else ""

    def wait(self, until, seconds=20):
        """Waits for a condition on a page that may still be changing. A
        look taken mid-navigation can fail in the browser itself, not only
        as a stale element (chromedriver: "Node with given id does not
        belong to the document"); such a look is taken again, and only a
        condition still unmet when the time is up fails the step."""
        return WebDriverWait(self.d, seconds, ignored_exceptions=(WebDriverException,)).until(until)

    def follow(self, element):
        """Clicks a link or a form's button and waits for the next page: a
        click returns before the browser has the server's answer, and
        looking at once would read the page being left (a slow login's
        password check made CI read the form instead of its error). The
        page being left carries a mark; the next page is the one without
        it, fully loaded."""
        self.d.execute_script("window.orderflowLeaving = true;")
        element.click()
        self.wait(lambda d: d.execute_script("return !window.orderflowLeaving && document.readyState === 'complete'"), 30)

    def login(self, who, expect_ok=True):
        name, password = who.split(":", 1)
        self.go("/console/login")
        self.d.find_element(By.NAME, "name").send_keys(name)
        self.d.find_element(By.NAME, "password").send_keys(password)
        self.follow(self.d.find_element(By.ID, "login-submit"))
        if expect_ok:
            self.wait(lambda d: d.find_elements(By.ID, "who"))
            self.check(name in self.text("#who"), "logged in as %s, the header says %r" % (name, self.text("#who")))

    def logout(self):
        self.follow(self.d.find_element(By.CSS_SELECTOR, "#logout button"))
        self.wait(lambda d: d.find_elements(By.ID, "login"))

    def post(self, path, fields):
        """A POST from the page's own script: its HTTP status."""
        return self.d.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "var body = new URLSearchParams(arguments[1]);"
            "fetch(arguments[0], {method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual'})"
            "  .then(function (r) { done(r.status); }, function (e) { done('error: ' + e); });",
            path, fields)

    def csrf(self):
        return self.d.find_element(By.CSS_SELECTOR, "#logout input[name=csrf]").get_attribute("value")

    def run(self):
        a = self.a
        # A page without a session leads to the login.
        self.go("/console/reviews")
        self.check(self.find("#login") is not None, "an anonymous visit to the queue did not lead to the login form")
        self.step("without a session the console asks for a login")

        # A wrong password is refused, and says so.
        name = a.staff.split(":", 1)[0]
        self.login(name + ":not-the-password-at-all", expect_ok=False)
        self.check(self.find("#login-error") is not None, "a wrong password did not show an error")
        self.check(self.find("#who") is None, "a wrong password logged in")
        self.step("a wrong password is refused")
        self.shot("login")

        # Staff log in and find the flagged order in the queue.
        self.login(a.staff)
        self.go("/console/reviews")
        row = self.find('tr.review[data-order="%s"]' % a.order)
        self.check(row is not None, "the flagged order %s is not in the queue" % a.order)
        self.step("staff see the flagged order in the review queue")
        self.shot("queue")

        # The filters narrow the list.
        Select(self.d.find_element(By.NAME, "severity")).select_by_value("critical")
        self.follow(self.d.find_element(By.CSS_SELECTOR, "#filters button"))
        self.wait(lambda d: "severity=critical" in d.current_url)
        self.check(self.find('tr.review[data-order="%s"]' % a.order) is None, "a severity filter kept a warning item")
        self.go("/console/reviews?order=" + a.order)
        self.check(self.find('tr.review[data-order="%s"]' % a.order) is not None, "the order filter lost the item")
        self.check(len(self.d.find_elements(By.CSS_SELECTOR, "tr.review")) == 1, "the order filter kept other orders")
        self.step("the filters narrow the queue by severity and by order")

        # The item: its evidence, the order's events and actions with their texts and history.
        self.follow(self.find('tr.review[data-order="%s"] a.review-link' % a.order))
        self.wait(lambda d: d.find_elements(By.ID, "evidence"))
        self.check("/console/reviews/" + a.review in self.d.current_url, "the link led to %s" % self.d.current_url)
        evidence = self.text("#evidence")
        self.check("engraving" in evidence, "the evidence does not name the rule: %r" % evidence)
        self.check(len(self.d.find_elements(By.CSS_SELECTOR, "#events tr.event")) >= 1, "the order's events are missing")
        texts = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#actions .action blockquote.text")]
        self.check(any(a.order in t for t in texts), "the thank-you message's text is not among the actions: %r" % texts)
        self.check(len(self.d.find_elements(By.CSS_SELECTOR, "#actions .history li")) >= 2, "the actions' history is missing")
        self.step("the item shows its evidence, the order's events, and its actions with texts and history")
        self.shot("item")

        # The buyer's conversation as orderflow saw it.
        self.follow(self.find("a.conversation-link"))
        self.wait(lambda d: d.find_elements(By.TAG_NAME, "h1"))
        said = self.text("#conversation")
        self.check(a.buyer_text in said, "the buyer's message is not in the conversation: %r" % said)
        self.check(a.order in said, "the shop's message is not in the conversation: %r" % said)
        self.step("the conversation shows the buyer's message and the shop's")
        self.shot("conversation")

        # Resolve it with a note; it leaves the queue.
        self.go("/console/reviews/" + a.review)
        self.d.find_element(By.CSS_SELECTOR, "#resolve textarea[name=note]").send_keys("刻印の文字を電話で確認しました")
        self.follow(self.d.find_element(By.ID, "resolve-submit"))
        self.wait(lambda d: d.find_elements(By.ID, "notice"))
        self.check(self.find('tr.review[data-order="%s"]' % a.order) is None, "the resolved item is still in the queue")
        self.check(self.find('tr.review[data-id="%s"]' % a.untouched) is not None, "the other item left the queue")
        self.step("resolving with a note takes the item out of the queue")
        self.shot("resolved")

        # Order lookup by id.
        self.follow(self.d.find_element(By.ID, "nav-orders"))
        box = self.d.find_element(By.CSS_SELECTOR, "#lookup input[name=q]")
        box.send_keys(a.order)
        self.follow(self.d.find_element(By.CSS_SELECTOR, "#lookup button"))
        self.wait(lambda d: d.find_elements(By.ID, "order-id"))
        self.check(self.text("#order-id") == a.order, "the lookup found %r" % self.text("#order-id"))
        self.check("resolved" in self.text("#order-reviews") or self.find("#order-reviews") is not None,
                   "the order page does not list its review item")
        self.step("looking an order up by its id opens the order")
        answers = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#answers .answer")]
        self.check(a.buyer_text in answers, "the buyer's captured answer is not on the order page: %r" % answers)
        self.step("the order page shows the buyer's answer from the chat")
        self.shot("order")

        # The status page: the customer-service calls of the day.
        self.go("/console/status")
        quota = self.text("#cs-quota")
        self.check(" of " in quota, "the status page does not show the customer-service calls: %r" % quota)
        self.step("the status page shows today's customer-service calls: " + quota)

        # Staff may not resume or reload: no buttons, and a POST is refused.
        self.go("/console/status")
        self.check(self.find("#checks") is not None, "the status page has no readiness checks")
        self.check(self.find("#operator") is None, "staff see the operator actions")
        token = self.csrf()
        for path in ("/console/reload", "/console/resume"):
            status = self.post(path, {"csrf": token})
            self.check(status == 403, "staff POST %s answered %s, not 403" % (path, status))
        self.step("staff are refused resume and reload (403), and see no buttons for them")

        # Without the CSRF token (or with a wrong one) nothing changes.
        for fields in ({"note": "no token"}, {"note": "wrong token", "csrf": "0" * 64}):
            status = self.post("/console/reviews/%s/resolve" % a.untouched, fields)
            self.check(status == 403, "a resolve without a valid CSRF token answered %s, not 403" % status)
        self.go("/console/reviews/" + a.untouched)
        self.check(self.find("#resolve") is not None, "the item was resolved by a request without the CSRF token")
        self.step("requests without a valid CSRF token are refused and change nothing")
        self.logout()
        self.step("staff log out")

        # The operator: status with the operator's actions; a reload.
        self.login(a.operator)
        self.go("/console/status")
        self.check(self.find("#operator #reload") is not None, "the operator sees no reload button")
        self.d.execute_script("window.confirm = function () { return true; };")
        self.follow(self.d.find_element(By.CSS_SELECTOR, "#reload button"))
        self.wait(lambda d: d.find_elements(By.ID, "notice"))
        self.check("eload" in self.text("#notice"), "the reload said %r" % self.text("#notice"))
        self.step("an operator reloads from the status page")
        self.shot("status")

        # Japanese labels.
        self.go("/console/reviews")
        self.d.find_element(By.ID, "lang").click()
        self.wait(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja")
        self.check(self.text("#nav-reviews") == "確認待ち", "the Japanese navigation says %r" % self.text("#nav-reviews"))
        self.step("the console speaks Japanese")
        self.shot("queue-ja")
        self.logout()


if __name__ == "__main__":
    sys.exit(main())
