// DEV STACK AND TESTS ONLY: a stand-in for Stripe.js in front of localstripe, served by the fake
// Stripe (payreq/fakestripe_element.py) and never by the API or in production. It implements
// the subset of Stripe.js the pay page uses, with Stripe's signatures and result shapes:
//   Stripe(key, {stripeAccount}), stripe.elements({mode: "payment", amount, currency,
//   paymentMethodTypes}), elements.create("payment").mount(selector) / .on("change"|"ready"),
//   elements.update({amount}), elements.submit(), stripe.createConfirmationToken({elements}),
//   stripe.handleNextAction({clientSecret}).
// The "Payment Element" is a plain card form in the page (the real one is Stripe's iframe).
// Cards behave as localstripe's test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is
// declined, 4000 0027 6000 3184 asks for 3-D Secure, which raises a challenge dialog whose
// Complete / Fail buttons call localstripe's POST /v1/payment_intents/{id}/_authenticate.
(function () {
  "use strict";
  var scriptSrc = document.currentScript ? document.currentScript.src : location.href;
  // The fake Stripe's API: the origin this file came from, or ?api=<base> on its URL.
  var API = new URL(scriptSrc).searchParams.get("api") || new URL(scriptSrc).origin;
  var AUTH_FAILED = "We are unable to authenticate your payment method. Please choose a different payment method and try again.";

  function form(params, prefix, out) {
    out = out || new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      var name = prefix ? prefix + "[" + k + "]" : k;
      if (v === undefined || v === null) return;
      if (typeof v === "object") form(v, name, out);
      else out.append(name, String(v));
    });
    return out;
  }

  // Form-encoded without custom headers, as Stripe.js sends it: a CORS "simple" request.
  async function call(method, path, params) {
    var url = API + path;
    var init = { method: method };
    if (method === "GET") url += "?" + form(params).toString();
    else init.body = form(params);
    var res = await fetch(url, init);
    var body = await res.json().catch(function () { return {}; });
    return { ok: res.ok, body: body };
  }

  function stripeError(body, fallback) {
    var e = (body && body.error) || {};
    return { type: e.type || "api_error", code: e.code, message: e.message || fallback };
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var n = parseInt(digits[digits.length - 1 - i], 10);
      if (i % 2 === 1) { n *= 2; if (n > 9) n -= 9; }
      sum += n;
    }
    return sum % 10 === 0;
  }

  function input(id, label, value, attrs) {
    var wrap = document.createElement("div");
    Object.assign(wrap.style, { marginBottom: "0.5rem", minWidth: "0", flex: attrs.flex || "1 1 100%" });
    var l = document.createElement("label");
    l.htmlFor = id;
    l.textContent = label;
    Object.assign(l.style, { display: "block", fontWeight: "600" });
    var f = document.createElement("input");
    f.id = id;
    f.type = "text";
    f.value = value;
    f.setAttribute("inputmode", "numeric");
    f.setAttribute("autocomplete", attrs.autocomplete);
    if (attrs.placeholder) f.placeholder = attrs.placeholder;
    Object.assign(f.style, {
      display: "block", width: "100%", maxWidth: "none", fontSize: "1rem", padding: "0.625rem",
      border: "1px solid #6b7280", borderRadius: "0.375rem", boxSizing: "border-box",
    });
    wrap.appendChild(l);
    wrap.appendChild(f);
    return { wrap: wrap, field: f };
  }

  // The Payment Element's labels follow elements({locale}), as Stripe's own do.
  var LABELS = {
    en: { number: "Card number", expiry: "Expiration date (MM / YY)", cvc: "Security code", mmyy: "MM / YY" },
    es: { number: "Número de tarjeta", expiry: "Fecha de vencimiento (MM / AA)", cvc: "Código de seguridad", mmyy: "MM / AA" },
  };

  function cardForm(container, locale) {
    var t = LABELS[locale] || LABELS.en;
    var box = document.createElement("div");
    Object.assign(box.style, { display: "flex", flexWrap: "wrap", columnGap: "0.75rem" });
    var number = input("dev-card-number", t.number, "4242 4242 4242 4242", { autocomplete: "cc-number" });
    var expiry = input("dev-card-expiry", t.expiry, "12 / 34", { autocomplete: "cc-exp", placeholder: t.mmyy, flex: "1 1 8rem" });
    var cvc = input("dev-card-cvc", t.cvc, "123", { autocomplete: "cc-csc", placeholder: "CVC", flex: "1 1 6rem" });
    [number, expiry, cvc].forEach(function (x) { box.appendChild(x.wrap); });
    container.appendChild(box);
    return { number: number.field, expiry: expiry.field, cvc: cvc.field };
  }

  // Stripe's messages for an incomplete or invalid card; null when the card is complete.
  function problem(fields) {
    var number = fields.number.value.replace(/\s/g, "");
    var exp = fields.expiry.value.replace(/\s/g, "").match(/^(\d{1,2})\/?(\d{2})$/);
    var cvc = fields.cvc.value.trim();
    if (number.length < 16) return { field: fields.number, code: "incomplete_number", message: "Your card number is incomplete." };
    if (!/^\d{16}$/.test(number) || !luhn(number)) return { field: fields.number, code: "invalid_number", message: "Your card number is invalid." };
    if (!exp) return { field: fields.expiry, code: "incomplete_expiry", message: "Your card's expiration date is incomplete." };
    var month = parseInt(exp[1], 10), year = 2000 + parseInt(exp[2], 10), now = new Date();
    if (month < 1 || month > 12) return { field: fields.expiry, code: "invalid_expiry_month", message: "Your card's expiration date is invalid." };
    if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
      return { field: fields.expiry, code: "invalid_expiry_year_past", message: "Your card's expiration year is in the past." };
    }
    if (!/^\d{3}$/.test(cvc)) return { field: fields.cvc, code: "incomplete_cvc", message: "Your card's security code is incomplete." };
    return null;
  }

  function makeElements(options) {
    var state = { options: Object.assign({}, options || {}), fields: null, submitted: false, handlers: {} };
    if (state.options.mode !== "payment" || !state.options.currency || !(state.options.amount > 0)) {
      throw new Error("dev Stripe.js: elements() needs mode 'payment', an amount and a currency");
    }
    function emit(name, ev) { (state.handlers[name] || []).forEach(function (fn) { fn(ev); }); }
    var elements = {
      _state: state,
      create: function (type) {
        if (type !== "payment") throw new Error("dev Stripe.js: only the Payment Element");
        return {
          mount: function (selector) {
            var container = typeof selector === "string" ? document.querySelector(selector) : selector;
            state.fields = cardForm(container, state.options.locale);
            Object.keys(state.fields).forEach(function (k) {
              state.fields[k].addEventListener("input", function () {
                state.submitted = false;
                state.fields[k].removeAttribute("aria-invalid");
                emit("change", { elementType: "payment", complete: !problem(state.fields), empty: false, value: { type: "card" } });
              });
            });
            setTimeout(function () { emit("ready", { elementType: "payment" }); }, 0);
          },
          on: function (name, fn) { (state.handlers[name] = state.handlers[name] || []).push(fn); },
        };
      },
      update: function (changes) { Object.assign(state.options, changes || {}); },
      submit: async function () {
        if (!state.fields) return { error: { type: "invalid_request_error", message: "No Payment Element is mounted." } };
        var p = problem(state.fields);
        if (p) {
          p.field.setAttribute("aria-invalid", "true");
          p.field.focus();
          return { error: { type: "validation_error", code: p.code, message: p.message } };
        }
        state.submitted = true;
        return {};
      },
    };
    return elements;
  }

  window.Stripe = function (key, initOptions) {
    var account = initOptions && initOptions.stripeAccount;
    return {
      elements: makeElements,
      createConfirmationToken: async function (options) {
        var state = options && options.elements && options.elements._state;
        if (!state || !state.submitted) {
          return { error: { type: "invalid_request_error", message: "elements.submit() must be called before stripe.createConfirmationToken()." } };
        }
        state.submitted = false;
        var f = state.fields, exp = f.expiry.value.replace(/\s/g, "").split("/");
        var params = {
          key: key,
          _stripe_account: account,
          payment_method_data: {
            type: "card",
            card: { number: f.number.value.replace(/\s/g, ""), exp_month: exp[0], exp_year: exp[1], cvc: f.cvc.value.trim() },
          },
        };
        var r = await call("POST", "/v1/confirmation_tokens", params);
        if (!r.ok) return { error: stripeError(r.body, "Your card could not be used.") };
        return { confirmationToken: r.body };
      },
      handleNextAction: async function (options) {
        var secret = options && options.clientSecret;
        var id = String(secret || "").split("_secret_")[0];
        var got = await call("GET", "/v1/payment_intents/" + encodeURIComponent(id), { key: key, client_secret: secret });
        if (!got.ok) return { error: stripeError(got.body, "The payment could not be loaded.") };
        if (got.body.status !== "requires_action") return { paymentIntent: got.body };
        var success = await challenge(got.body);
        var done = await call("POST", "/v1/payment_intents/" + encodeURIComponent(id) + "/_authenticate", { key: key, client_secret: secret, success: success });
        if (!done.ok) return { error: stripeError(done.body, "The payment could not be authenticated.") };
        if (done.body.status === "requires_payment_method") {
          return { error: { type: "invalid_request_error", code: "payment_intent_authentication_failure", message: AUTH_FAILED, payment_intent: done.body } };
        }
        return { paymentIntent: done.body };
      },
    };
  };

  // The bank's challenge, as Stripe's test-mode 3-D Secure page offers it: complete or fail.
  // A modal dialog: focus moves into it, Tab stays in it, Escape fails (as closing Stripe's).
  function challenge(intent) {
    return new Promise(function (resolve) {
      var opener = document.activeElement;
      var overlay = document.createElement("div");
      overlay.id = "dev-3ds-challenge";
      Object.assign(overlay.style, {
        position: "fixed", inset: "0", background: "rgba(17, 24, 39, 0.6)", display: "flex",
        alignItems: "center", justifyContent: "center", padding: "1rem", zIndex: "1000",
      });
      var dialog = document.createElement("div");
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-labelledby", "dev-3ds-title");
      dialog.setAttribute("aria-describedby", "dev-3ds-text");
      Object.assign(dialog.style, {
        background: "#fff", color: "#111827", borderRadius: "0.5rem", padding: "1.25rem",
        width: "100%", maxWidth: "22rem", boxSizing: "border-box",
      });
      var title = document.createElement("h2");
      title.id = "dev-3ds-title";
      title.textContent = "Confirm this payment with your bank";
      var text = document.createElement("p");
      text.id = "dev-3ds-text";
      var amount = new Intl.NumberFormat("en-US", { style: "currency", currency: String(intent.currency).toUpperCase() })
        .format(intent.amount / 100);
      text.textContent = "3-D Secure test challenge (dev stand-in) for " + amount + ".";
      dialog.appendChild(title);
      dialog.appendChild(text);
      var buttons = [["Complete authentication", true, "#047857"], ["Fail authentication", false, "#b91c1c"]].map(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b[0];
        Object.assign(button.style, {
          display: "block", width: "100%", minHeight: "2.75rem", marginTop: "0.5rem", fontSize: "1rem",
          fontWeight: "700", color: "#fff", background: b[2], border: "0", borderRadius: "0.375rem",
        });
        button.addEventListener("click", function () { finish(b[1]); });
        dialog.appendChild(button);
        return button;
      });
      function finish(ok) {
        document.removeEventListener("keydown", onKey, true);
        overlay.remove();
        if (opener && opener.focus) opener.focus();
        resolve(ok);
      }
      function onKey(ev) {
        if (ev.key === "Escape") { ev.preventDefault(); finish(false); }
        if (ev.key === "Tab") {
          ev.preventDefault();
          var i = buttons.indexOf(document.activeElement);
          buttons[(i + (ev.shiftKey ? buttons.length - 1 : 1)) % buttons.length].focus();
        }
      }
      document.addEventListener("keydown", onKey, true);
      overlay.appendChild(dialog);
      document.body.appendChild(overlay);
      buttons[0].focus();
    });
  }
})();
