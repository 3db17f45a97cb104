// Progressive behaviour of the billing and login pages. Reading works
// without it; buttons that start Checkout or the Portal need it, and those
// that switch, cancel or resume the plan are hidden without it.
(function () {
  "use strict";
  const say = (msg) => { const el = document.getElementById("message"); if (el) el.textContent = msg; };

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return {};
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || ("Request failed (" + res.status + ")"));
    return data;
  }

  const page = document.body.dataset;

  // onThisOrigin returns next as an absolute URL when it points to this
  // origin, else "". It asks the URL parser, not a string prefix: browsers
  // read "/\evil.example", and "/%09/evil.example" (a tab, which they drop),
  // as "//evil.example", another host. The absolute URL is what the browser
  // follows, so nothing is parsed twice.
  const onThisOrigin = (next) => {
    if (!next) return "";
    try {
      const u = new URL(next, window.location.origin);
      return u.origin === window.location.origin ? u.href : "";
    } catch (e) { return ""; }
  };

  document.querySelectorAll("[data-checkout]").forEach((b) => b.addEventListener("click", async () => {
    b.disabled = true; say("Opening Stripe Checkout…");
    try {
      const { url } = await post("/api/billing/checkout-session", { orgId: page.org, planTier: b.dataset.checkout });
      window.location.assign(url);
    } catch (e) { say(e.message); b.disabled = false; }
  }));

  document.querySelectorAll("[data-portal]").forEach((b) => b.addEventListener("click", async () => {
    b.disabled = true; say("Opening the Customer Portal…");
    try {
      const { url } = await post("/api/billing/portal", { orgId: page.org });
      window.location.assign(url);
    } catch (e) { say(e.message); b.disabled = false; }
  }));

  // Elements that only work with this script are hidden until it runs.
  document.querySelectorAll("[data-js]").forEach((el) => { el.hidden = false; });

  // money formats minor units of currency as the plan cards do: Stripe's
  // digits of minor units come from the page (the server's table), 2 for
  // a currency not in it.
  const decimals = (() => { try { return JSON.parse(page.decimals || "{}"); } catch (e) { return {}; } })();
  const money = (minor, currency) => {
    const cur = String(currency || "").toLowerCase();
    const d = Object.prototype.hasOwnProperty.call(decimals, cur) ? decimals[cur] : 2;
    const major = minor / Math.pow(10, d);
    try {
      return new Intl.NumberFormat(document.documentElement.lang || "en",
        { style: "currency", currency: cur.toUpperCase(), minimumFractionDigits: d, maximumFractionDigits: d }).format(major);
    } catch (e) { return major.toFixed(d) + " " + cur.toUpperCase(); }
  };

  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const reload = () => window.location.replace(window.location.pathname);

  // open shows a modal dialog with focus on first; Escape closes it (the
  // browser's), and focus then returns to the button that opened it.
  // A close event that comes after the dialog was opened again (it is
  // dispatched in a task of its own) is the earlier closing's: ignored.
  const open = (d, opener, first) => {
    d.onclose = () => { if (!d.open && opener.isConnected) opener.focus(); };
    d.showModal();
    first.focus();
  };

  // Switch: the preview (what is due now, the invoice lines) in a dialog;
  // Confirm changes the plan at the preview's proration date, so the
  // charge is the one shown.
  const sw = document.getElementById("switch-dialog");
  if (sw) {
    const preview = document.getElementById("switch-preview"), error = document.getElementById("switch-error");
    const confirm = document.getElementById("switch-confirm"), cancel = document.getElementById("switch-cancel");
    let asked = 0, change = null;
    cancel.addEventListener("click", () => sw.close());
    // A closed dialog drops the preview it was waiting for; a late close
    // event (see open) must not drop the one opened since.
    sw.addEventListener("close", () => { if (!sw.open) { asked++; change = null; } });
    document.querySelectorAll("[data-switch]").forEach((b) => b.addEventListener("click", async () => {
      const mine = ++asked;
      change = null;
      document.getElementById("switch-title").textContent = "Switch to " + b.dataset.name;
      preview.replaceChildren(el("p", "Loading the price of the change…", "muted"));
      error.textContent = ""; confirm.disabled = true;
      open(sw, b, cancel);
      try {
        const p = await post("/api/billing/subscription/preview", { orgId: page.org, planTier: b.dataset.switch });
        if (mine !== asked) return;
        const due = el("p", "Amount due now: ", "due");
        const amount = el("strong", money(p.amountDue, p.currency)); amount.id = "switch-amount";
        due.append(amount);
        const parts = [due];
        if (p.lines && p.lines.length) {
          const table = el("table"); table.id = "switch-lines";
          table.append(el("caption", "Invoice lines", "sr-only"));
          const head = el("tr"); ["Item", "Amount"].forEach((h, i) => { const th = el("th", h, i ? "num" : ""); th.scope = "col"; head.append(th); });
          table.append(el("thead")); table.tHead.append(head);
          const body = el("tbody");
          p.lines.forEach((l) => { const tr = el("tr"); tr.append(el("td", l.description || "—"), el("td", money(l.amount, p.currency), "num")); body.append(tr); });
          table.append(body);
          parts.push(table);
        }
        preview.replaceChildren(...parts);
        change = { orgId: page.org, planTier: p.planTier, prorationDate: p.prorationDate };
        confirm.disabled = false;
      } catch (e) {
        if (mine !== asked) return;
        preview.replaceChildren(); error.textContent = e.message;
      }
    }));
    confirm.addEventListener("click", async () => {
      if (!change) return;
      confirm.disabled = true; error.textContent = "";
      try { await post("/api/billing/subscription/change", change); reload(); } catch (e) { error.textContent = e.message; confirm.disabled = false; }
    });
  }

  // Cancel plan, after a confirmation; it ends with the period.
  const cd = document.getElementById("cancel-dialog"), cancelPlan = document.getElementById("cancel-plan");
  if (cd && cancelPlan) {
    const confirm = document.getElementById("cancel-confirm"), keep = document.getElementById("cancel-keep"), error = document.getElementById("cancel-error");
    keep.addEventListener("click", () => cd.close());
    cancelPlan.addEventListener("click", () => { error.textContent = ""; confirm.disabled = false; open(cd, cancelPlan, keep); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true; error.textContent = "";
      try { await post("/api/billing/subscription/cancel", { orgId: page.org }); reload(); } catch (e) { error.textContent = e.message; confirm.disabled = false; }
    });
  }

  document.querySelectorAll("[data-resume]").forEach((b) => b.addEventListener("click", async () => {
    b.disabled = true; say("Resuming the plan…");
    try { await post("/api/billing/subscription/resume", { orgId: page.org }); reload(); } catch (e) { say(e.message); b.disabled = false; }
  }));

  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await post("/api/auth/logout"); } finally { window.location.assign("/login"); }
  });

  // Back from Checkout: wait for the webhook, then show the new plan.
  // Anything Stripe records for the org (the completed checkout, or its
  // expiry) reloads the page, which then says what became of it.
  if (page.confirming === "true") {
    const started = Date.now();
    const poll = async () => {
      try {
        const res = await fetch("/api/billing/status?orgId=" + encodeURIComponent(page.org), { credentials: "same-origin" });
        const st = await res.json();
        if (res.ok && st.ledgerVersion > Number(page.version)) {
          window.location.replace(window.location.href);
          return;
        }
      } catch (e) { /* keep trying */ }
      if (Date.now() - started > 120000) { say("Your payment is taking longer than usual to confirm. This page will show it once Stripe tells us."); return; }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 500);
  }

  const login = document.getElementById("login-form");
  if (login) login.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(login);
    say("Logging in…");
    try {
      await post("/api/auth/login", { email: f.get("email"), password: f.get("password") });
      window.location.assign(onThisOrigin(new URLSearchParams(window.location.search).get("next")) || "/");
    } catch (e) { say(e.message); }
  });
})();
