// The staff panel. Every call carries the session secret in a header (never a cookie); the
// page's CSP allows only this file and same-origin requests. Messages to the host page go to
// the practice's configured origins only, never "*".
(function () {
  "use strict";
  var root = document.getElementById("panel");
  if (!root) return;

  var d = root.dataset;
  var secret = d.secret;
  var origins = JSON.parse(d.origins || "[]");
  var currency = d.currency;
  var precision = parseInt(d.precision, 10);
  var POLL_MS = 4000;
  var DIALOG_MARGIN_PX = 16;
  var FIELDS = ["amount", "first_name", "last_name", "facility_id", "emails", "phones", "note"];
  var STATUS = {
    pending: "Pending", sent: "Sent", partially_paid: "Partially paid", paid: "Paid",
    cancelled: "Cancelled", expired: "Expired", delivery_failed: "Delivery failed",
    succeeded: "Succeeded", failed: "Failed", refunded: "Refunded",
    partially_refunded: "Partially refunded", disputed: "Disputed",
  };
  var METHODS = {
    cash: "Cash", check: "Check", card_present: "Card at the desk",
    bank_transfer: "Bank transfer", other: "Other",
  };

  // The secret is in our URL only to get here; keep it out of the frame's history.
  if (window.history && window.history.replaceState) window.history.replaceState(null, "", "/embed/panel");

  var el = function (id) { return document.getElementById(id); };
  var form = el("create-form");
  var send = el("send");
  var dialog = el("create-dialog");
  var opener = el("create-open");
  var expired = false;
  var pendingKey = null;   // the Idempotency-Key of the submission in flight or to retry
  var pendingValues = null;

  var formatter = new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() });
  function money(minor) { return formatter.format(minor / Math.pow(10, precision)); }
  var dateFormat = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "short", day: "numeric" });
  function day(iso) { return iso ? dateFormat.format(new Date(iso)) : "\u2014"; }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  // ---- messages to the host page -------------------------------------------------------
  function targets() {
    var ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length) {
      return origins.indexOf(ancestors[0]) >= 0 ? [ancestors[0]] : [];
    }
    return origins; // a browser without ancestorOrigins: the one matching origin receives it
  }
  function tell(message) {
    if (window.parent === window) return;
    targets().forEach(function (origin) {
      try { window.parent.postMessage(message, origin); } catch (e) { /* not that origin */ }
    });
  }
  // In a frame the host page grows the frame to fit us, so the dialog takes its full height
  // (panel.css), placed in the page rather than fixed, so focusing a field scrolls the host.
  if (window.parent !== window) document.documentElement.classList.add("framed");
  var lastHeight = 0;
  function postHeight() {
    var h = Math.ceil(document.documentElement.getBoundingClientRect().height);
    // The open dialog is in the top layer, outside the page's height: ask for room for all of it.
    if (dialog.open) h = Math.max(h, Math.ceil(dialog.getBoundingClientRect().height + 2 * DIALOG_MARGIN_PX));
    if (h !== lastHeight) { lastHeight = h; tell({ type: "payreq.panel.height", height: h }); }
  }
  if (window.ResizeObserver) {
    var sizes = new ResizeObserver(postHeight);
    sizes.observe(document.documentElement);
    sizes.observe(dialog);
  }
  window.addEventListener("load", postHeight);

  // ---- the panel's API -----------------------------------------------------------------
  async function api(method, path, body, key) {
    var headers = { "Payreq-Staff-Session": secret, "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    var res = await fetch("/embed/api" + path, {
      method: method, headers: headers, cache: "no-store", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = await res.json().catch(function () { return {}; });
    if (res.status === 401) sessionExpired();
    return { ok: res.ok, status: res.status, data: data };
  }

  function sessionExpired() {
    if (expired) return;
    expired = true;
    el("session-expired").hidden = false;
    send.disabled = true;
    opener.disabled = true;
    if (dialog.open) dialog.close();
    tell({ type: "payreq.panel.session_expired" });
  }

  // ---- field errors --------------------------------------------------------------------
  function fieldOf(path) {
    if (!path) return null;
    var name = String(path).split(/[.[]/)[0];
    if (name === "facility") return "facility_id";
    return FIELDS.indexOf(name) >= 0 ? name : null;
  }
  function setError(name, lines) {
    var box = el(name + "-error");
    var input = el(name);
    box.textContent = "";
    (lines || []).forEach(function (line) {
      var p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    });
    box.hidden = !lines || !lines.length;
    if (box.hidden) input.removeAttribute("aria-invalid");
    else input.setAttribute("aria-invalid", "true");
  }
  function clearErrors() {
    FIELDS.forEach(function (f) { setError(f, null); });
    el("form-error").hidden = true;
  }
  function formError(message) {
    var box = el("form-error");
    box.textContent = message;
    box.hidden = false;
    box.focus();
  }

  // "12.5", "$1,200.00" -> minor units, without floating point (api/static/amounts.js).
  function parseAmount(text) { return window.PayreqAmounts.parseMinor(text, precision); }

  // Each address judged by the server's own validator; every bad one is named.
  async function checkEmails() {
    var value = el("emails").value;
    if (!value.trim()) {
      if (el("phones").value.trim()) { setError("emails", null); return true; }
      setError("emails", ["Enter at least one email address or phone number."]);
      return false;
    }
    var r = await api("POST", "/emails/check", { emails: value });
    if (!r.ok) return r.status !== 401;
    var bad = r.data.addresses.filter(function (a) { return a.error; });
    setError("emails", bad.map(function (a) { return "\u201c" + a.address + "\u201d: " + a.error; }));
    return bad.length === 0;
  }
  el("emails").addEventListener("blur", function () { if (el("emails").value.trim()) checkEmails(); });

  function values() {
    return {
      amount: parseAmount(el("amount").value),
      first_name: el("first_name").value,
      last_name: el("last_name").value,
      facility_id: el("facility_id").value,
      emails: el("emails").value,
      phones: el("phones").value,
      note: el("note").value,
    };
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (send.disabled || expired) return;
    send.disabled = true;
    send.setAttribute("aria-busy", "true");
    el("sent-status").textContent = "";
    clearErrors();
    try {
      var v = values();
      if (v.amount === null || v.amount <= 0) {
        setError("amount", ["Enter an amount, for example 120.00."]);
        el("amount").focus();
        return;
      }
      if (!(await checkEmails())) { el("emails").focus(); return; }
      // One key per submission; a retry of the same values reuses it, so it creates nothing new.
      var same = pendingValues && JSON.stringify(pendingValues) === JSON.stringify(v);
      if (!same) { pendingKey = newKey(); pendingValues = v; }
      var r = await api("POST", "/payment-requests", v, pendingKey);
      if (!r.ok) { showApiError(r); return; }
      pendingKey = null; pendingValues = null;
      var to = r.data.emails.concat(r.data.phones || []);
      el("sent-status").textContent = "Payment request for " + money(r.data.amount_requested) + " sent to " + to.join(", ") + ".";
      dialog.close();
      prependRequest(r.data);
      loadRequests().catch(function () { /* the next poll shows it */ });
      tell({ type: "payment_request.sent", payment_request: {
        id: r.data.id, amount_requested: r.data.amount_requested, currency: r.data.currency,
        status: r.data.status, created_at: r.data.created_at } });
    } catch (e) {
      formError("The request could not be sent (connection problem). Press Send again: it will not be sent twice.");
    } finally {
      send.disabled = expired;
      send.setAttribute("aria-busy", "false");
    }
  });

  // ---- the request window: pre-filled afresh from the session each time it opens ----------
  function openCreate() {
    if (expired) return;
    form.reset();  // every field back to the session's defaults (the template's values)
    clearErrors();
    pendingKey = null; pendingValues = null;
    dialog.showModal();
    el("amount").focus();
    postHeight();
  }
  opener.addEventListener("click", openCreate);
  el("create-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    if (!opener.disabled) opener.focus();
    postHeight();
  });

  function showApiError(r) {
    var err = (r.data && r.data.error) || {};
    var message = err.message || "The request could not be sent.";
    if (r.status === 401) return;
    var field = fieldOf(err.field);
    if (field) { setError(field, [message]); el(field).focus(); return; }
    formError(message);
  }

  // ---- lists ---------------------------------------------------------------------------
  function cell(text, label) {
    var td = document.createElement("td");
    td.textContent = text;
    if (label) td.setAttribute("data-label", label);
    return td;
  }
  function requestRow(r) {
    var tr = document.createElement("tr");
    tr.dataset.id = r.id;
    tr.appendChild(cell(day(r.created_at), "Date"));
    tr.appendChild(cell(r.full_name, "Full Name"));
    tr.appendChild(cell(money(r.amount_remaining), "Amount"));
    tr.appendChild(cell(STATUS[r.status] || r.status, "Status"));
    var actions = document.createElement("td");
    actions.className = "actions";
    var what = r.full_name + ", " + money(r.amount_remaining) + ", " + day(r.created_at);
    actions.appendChild(actionButton("Record payment", "Record payment for " + what, function (b) { openDesk(b, r, what); }));
    actions.appendChild(actionButton("Resend", "Resend request for " + what, function (b) { return act(b, r, "resend"); }));
    actions.appendChild(actionButton("Cancel", "Cancel request for " + what, function (b) {
      if (!window.confirm("Cancel this payment request? Its pay link stops working at once.")) return null;
      return act(b, r, "cancel");
    }));
    tr.appendChild(actions);
    return tr;
  }
  function actionButton(text, label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", async function () {
      if (b.disabled) return;
      b.disabled = true;
      try { await onClick(b); } finally { b.disabled = false; }
    });
    return b;
  }
  async function act(button, r, action) {
    var res = await api("POST", "/payment-requests/" + encodeURIComponent(r.id) + "/" + action, undefined, newKey());
    var status = el("list-status");
    if (!res.ok) {
      status.textContent = (res.data.error && res.data.error.message) || "That did not work.";
      el("list-status").className = "notice notice-error";
      return;
    }
    el("list-status").className = "visually-hidden";
    status.textContent = action === "cancel" ? "Request cancelled." : "Request email sent again.";
    await loadRequests();
  }

  // ---- a payment taken at the desk (cash, check, the desk's terminal) ---------------------
  var desk = { form: el("desk-form"), row: null, opener: null, key: null, values: null };
  function openDesk(button, r, what) {
    desk.row = r; desk.opener = button; desk.key = null;
    el("desk-for").textContent = what + " remaining";
    el("desk-amount").value = (r.amount_remaining / Math.pow(10, precision)).toFixed(precision);
    el("desk-reference").value = "";
    el("desk-error").hidden = true;
    setDeskError(null);
    desk.form.hidden = false;
    el("desk-amount").focus();
    postHeight();
  }
  function closeDesk(focusOpener) {
    desk.form.hidden = true;
    if (focusOpener && desk.opener && document.body.contains(desk.opener)) desk.opener.focus();
    postHeight();
  }
  function setDeskError(message) {
    var box = el("desk-amount-error");
    box.textContent = message || "";
    box.hidden = !message;
    if (message) el("desk-amount").setAttribute("aria-invalid", "true");
    else el("desk-amount").removeAttribute("aria-invalid");
  }
  el("desk-close").addEventListener("click", function () { closeDesk(true); });
  desk.form.addEventListener("keydown", function (ev) { if (ev.key === "Escape") closeDesk(true); });
  desk.form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var button = el("desk-record");
    if (button.disabled || !desk.row) return;
    var v = { amount: parseAmount(el("desk-amount").value), method: el("desk-method").value, reference: el("desk-reference").value };
    setDeskError(null);
    el("desk-error").hidden = true;
    if (v.amount === null || v.amount <= 0) { setDeskError("Enter the amount received, for example 40.00."); el("desk-amount").focus(); return; }
    // One key per payment; pressing Record again after a connection problem records it once.
    if (!desk.values || JSON.stringify(desk.values) !== JSON.stringify(v)) { desk.key = newKey(); desk.values = v; }
    button.disabled = true;
    try {
      var res = await api("POST", "/payment-requests/" + encodeURIComponent(desk.row.id) + "/payments", v, desk.key);
      if (!res.ok) {
        var err = (res.data && res.data.error) || {};
        if (err.field === "amount" || err.code === "amount_exceeds_remaining" || err.code === "remainder_below_minimum") { setDeskError(err.message); el("desk-amount").focus(); }
        else if (res.status !== 401) { el("desk-error").textContent = err.message || "The payment could not be recorded."; el("desk-error").hidden = false; el("desk-error").focus(); }
        return;
      }
      desk.values = null;
      el("list-status").className = "visually-hidden";
      el("list-status").textContent = money(v.amount) + " recorded; " + money(res.data.amount_remaining) + " remains.";
      closeDesk(false);
      await Promise.all([loadRequests(), loadPayments()]);
      var again = el("requests-body").querySelector('[aria-label="' + CSS.escape(desk.opener.getAttribute("aria-label")) + '"]');
      (again || el("tab-requests")).focus();
    } catch (e) {
      el("desk-error").textContent = "The payment could not be recorded (connection problem). Press Record payment again: it will not be recorded twice.";
      el("desk-error").hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  function renderRequests(items) {
    var body = el("requests-body");
    var focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    body.textContent = "";
    items.forEach(function (r) { body.appendChild(requestRow(r)); });
    el("requests-empty").hidden = items.length > 0;
    el("requests-table").hidden = items.length === 0;
    if (focused) {
      var again = body.querySelector('[aria-label="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
    postHeight();
  }
  function prependRequest(resource) {
    var rows = Array.prototype.slice.call(el("requests-body").children).map(function (tr) { return tr.dataset.id; });
    if (rows.indexOf(resource.id) < 0) el("requests-body").prepend(requestRow(resource));
    el("requests-empty").hidden = true;
    el("requests-table").hidden = false;
    postHeight();
  }
  async function loadRequests() {
    var r = await api("GET", "/payment-requests");
    if (r.ok) renderRequests(r.data.data);
  }
  async function loadPayments() {
    var r = await api("GET", "/payments");
    if (!r.ok) return;
    var body = el("payments-body");
    body.textContent = "";
    r.data.data.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(day(p.paid_at), "Date"));
      tr.appendChild(cell(money(p.amount), "Amount"));
      var method = p.source === "offline" ? (METHODS[p.method] || p.method) + " (desk)" : (p.method || "Card");
      tr.appendChild(cell(method, "Method"));
      tr.appendChild(cell(STATUS[p.status] || p.status, "Status"));
      body.appendChild(tr);
    });
    el("payments-empty").hidden = r.data.data.length > 0;
    el("payments-table").hidden = r.data.data.length === 0;
    postHeight();
  }
  async function refresh() {
    if (expired || document.hidden) return;
    try { await Promise.all([loadRequests(), loadPayments()]); } catch (e) { /* next poll */ }
  }

  // ---- tabs (WAI-ARIA tabs pattern: arrows move between tabs) ---------------------------
  var tabs = [el("tab-requests"), el("tab-payments")];
  function select(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      el(t.getAttribute("aria-controls")).hidden = !on;
    });
    postHeight();
  }
  tabs.forEach(function (t, i) {
    t.addEventListener("click", function () { select(t); });
    t.addEventListener("keydown", function (ev) {
      var next = null;
      if (ev.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (ev.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (ev.key === "Home") next = tabs[0];
      else if (ev.key === "End") next = tabs[tabs.length - 1];
      if (next) { ev.preventDefault(); select(next); next.focus(); }
    });
  });

  refresh();
  setInterval(refresh, POLL_MS);
  document.addEventListener("visibilitychange", refresh);
})();
