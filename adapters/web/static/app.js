// Progressive behaviour of the billing and login pages. Reading works
// without it; buttons that start Checkout or the Portal need it.
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

  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await post("/api/auth/logout"); } finally { window.location.assign("/login"); }
  });

  // Back from Checkout: wait for the webhook, then show the new plan.
  if (page.confirming === "true") {
    const started = Date.now();
    const poll = async () => {
      try {
        const res = await fetch("/api/billing/status?orgId=" + encodeURIComponent(page.org), { credentials: "same-origin" });
        const st = await res.json();
        if (res.ok && st.planTier !== "FREE" && st.status !== "none" && st.ledgerVersion > Number(page.version)) {
          window.location.replace(window.location.pathname);
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
