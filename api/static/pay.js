// The pay page: Stripe's Payment Element collects the card (or wallet, or Link) and Stripe.js
// turns it into a ConfirmationToken in the browser; only its id and the amount reach our
// server, which creates and confirms the PaymentIntent; 3-D Secure is finished here with
// handleNextAction. No inline script: the page's CSP allows only files.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) return;

  var d = form.dataset;
  var token = d.token;
  var currency = d.currency;
  var precision = parseInt(d.precision, 10);
  var remaining = parseInt(d.remaining, 10);
  var minimum = parseInt(d.minimum, 10);
  var POLL_INTERVAL_MS = 1000;
  var POLL_LIMIT_MS = 60000;

  var el = function (id) { return document.getElementById(id); };
  var outcome = el("outcome");
  var button = el("pay-button");
  var amountInput = el("amount");
  var amountError = el("amount-error");
  var paymentError = el("payment-error");
  var otherBox = el("other-amount");
  var busy = false;
  var elements = null; // Stripe's Elements, once Stripe.js has loaded

  var lang = document.documentElement.lang === "es" ? "es" : "en-US";  // the page's language, as the server wrote it
  var formatter = new Intl.NumberFormat(lang, { style: "currency", currency: currency.toUpperCase() });
  function money(minor) { return formatter.format(minor / Math.pow(10, precision)); }

  function showError(node, message) {
    node.textContent = message || "";
    node.hidden = !message;
  }

  function showOutcome(kind, html) {
    outcome.className = "outcome outcome-" + kind;
    outcome.textContent = "";
    html.forEach(function (line, i) {
      var p = document.createElement(i === 0 ? "strong" : "p");
      p.textContent = line;
      outcome.appendChild(p);
    });
    outcome.hidden = false;
    outcome.focus();
  }

  // "12.5", "$1,200.00" -> minor units, without floating point (api/static/amounts.js).
  function parseAmount(text) { return window.PayreqAmounts.parseMinor(text, precision); }

  function chosenAmount() {
    if (el("choice-full").checked) return remaining;
    return parseAmount(amountInput.value);
  }

  function refreshLabels() {
    el("full-label").textContent = money(remaining);
    el("max-label").textContent = money(remaining);
    el("min-label").textContent = money(Math.min(minimum, remaining));
    el("remaining").textContent = money(remaining);
    var amount = chosenAmount();
    el("pay-amount").textContent = amount ? money(amount) : "";
    // Stripe's dynamic updates: the Element (and a wallet's sheet) shows what will be charged.
    if (elements && !validate(amount)) elements.update({ amount: amount });
  }

  function validate(amount) {
    if (amount === null || amount <= 0) return "Enter an amount, for example 25.00.";
    if (amount < Math.min(minimum, remaining)) return "The amount must be at least " + money(Math.min(minimum, remaining)) + ".";
    if (amount > remaining) return "The amount can be at most " + money(remaining) + ".";
    return "";
  }

  Array.prototype.forEach.call(form.querySelectorAll("input[name=choice]"), function (radio) {
    radio.addEventListener("change", function () {
      otherBox.hidden = !el("choice-other").checked;
      if (!otherBox.hidden) amountInput.focus();
      showError(amountError, "");
      refreshLabels();
    });
  });
  amountInput.addEventListener("input", refreshLabels);

  if (typeof Stripe !== "function") {
    showOutcome("error", ["Card payments could not be loaded.", "Please check your connection and reload this page."]);
    button.disabled = true;
    return;
  }
  var stripe = d.stripeAccount ? Stripe(d.publishableKey, { stripeAccount: d.stripeAccount }) : Stripe(d.publishableKey);
  // The deferred-intent Payment Element: no PaymentIntent exists until our server makes one
  // from the ConfirmationToken; its payment method types are the server's (pay_page.py).
  elements = stripe.elements({
    mode: "payment",
    amount: remaining,
    currency: currency,
    locale: lang === "es" ? "es" : "en",  // the Payment Element's own labels in the page's language
    paymentMethodTypes: d.paymentMethodTypes.split(" "),
  });
  var paymentElement = elements.create("payment", { layout: "tabs" });
  paymentElement.mount("#payment-element");
  paymentElement.on("change", function () { showError(paymentError, ""); });

  // One attempt = one amount and one ConfirmationToken, posted with one attempt_id until the
  // server answers it. A network error or a 5xx/429 leaves it open: "try again" re-posts the
  // same body, so the server can answer with the same PaymentIntent and never charge twice.
  var attempt = null;

  function setBusy(on, label) {
    busy = on;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    if (label) button.firstChild.textContent = label;
  }

  function newAttemptId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // The balance changes when Stripe confirms the payment to our server; wait for it.
  async function awaitNewBalance(before) {
    var deadline = Date.now() + POLL_LIMIT_MS;
    while (Date.now() < deadline) {
      await sleep(POLL_INTERVAL_MS);
      var res = await fetch("/pay/" + encodeURIComponent(token) + "/status", { cache: "no-store" });
      if (!res.ok) continue;
      var s = await res.json();
      if (s.amount_remaining < before || s.closed) return s;
    }
    return null;
  }

  // The Payment Element's card as a ConfirmationToken, or null (its message shown).
  async function confirmationToken(amount) {
    elements.update({ amount: amount });
    var submitted = await elements.submit();
    if (submitted && submitted.error) {
      showError(paymentError, submitted.error.message || "Check your payment details.");
      return null;
    }
    var made = await stripe.createConfirmationToken({ elements: elements });
    if (!made || made.error || !made.confirmationToken) {
      showError(paymentError, (made && made.error && made.error.message) || "Check your payment details.");
      return null;
    }
    return made.confirmationToken.id;
  }

  async function post(a) {
    try {
      return await fetch("/pay/" + encodeURIComponent(token) + "/payments", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ amount: a.amount, confirmation_token: a.confirmationToken, attempt_id: a.id }),
      });
    } catch (e) {
      return null;
    }
  }

  function retryLater(message) {
    showOutcome("error", ["The payment could not be confirmed.", message, "Press Pay to try again: you will not be charged twice."]);
  }

  async function pay(amount) {
    if (!attempt || attempt.amount !== amount) {
      var ctoken = await confirmationToken(amount);
      if (!ctoken) return;
      attempt = { id: newAttemptId(), amount: amount, confirmationToken: ctoken };
    }
    var res = await post(attempt);
    if (!res) { retryLater("We could not reach the payment service."); return; }
    var body = await res.json().catch(function () { return {}; });
    var message = (body.error && body.error.message) || "The payment could not be made.";
    if (res.status >= 500 || res.status === 429) { retryLater(message); return; }
    attempt = null;
    if (!res.ok) {
      if (res.status === 402) showOutcome("declined", ["Your card was declined.", message, "No money was taken. You can try another card."]);
      else if (res.status === 409 || res.status === 422) {
        // The amount's problems go under the amount; a token Stripe refused, under the payment.
        var field = body.error && body.error.field;
        showError(field === "amount" || !field ? amountError : paymentError, message);
      }
      else showOutcome("error", ["The payment could not be made.", message]);
      return;
    }
    if (body.status === "requires_action") {
      var done = await stripe.handleNextAction({ clientSecret: body.client_secret });
      if (done && done.error) {
        showOutcome("declined", ["The payment was not completed.", done.error.message || "Your bank did not confirm it.", "No money was taken. You can try again or use another card."]);
        return;
      }
    }
    await settled(amount);
  }

  async function settled(amount) {
    showOutcome("pending", ["Thank you! Your payment of " + money(amount) + " was accepted.", "Updating your balance…"]);
    var s = await awaitNewBalance(remaining);
    if (!s) {
      showOutcome("success", ["Thank you! Your payment of " + money(amount) + " was accepted.", "Your balance will update shortly; you will also get an email receipt."]);
      return;
    }
    remaining = s.amount_remaining;
    minimum = s.min_amount; // a percentage minimum shrinks with what remains
    if (s.closed || remaining === 0) {
      form.hidden = true;
      el("paid-state").hidden = false;
      el("remaining").textContent = money(0);
      showOutcome("success", ["Thank you! Your payment of " + money(amount) + " was received.", "This request is now paid in full."]);
      return;
    }
    el("choice-full").checked = true;
    otherBox.hidden = true;
    amountInput.value = (remaining / Math.pow(10, precision)).toFixed(precision);
    elements.update({ amount: remaining });
    refreshLabels();
    showOutcome("success", ["Thank you! Your payment of " + money(amount) + " was received.", "Amount remaining: " + money(remaining) + "."]);
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (busy) return;
    var amount = chosenAmount();
    var problem = validate(amount);
    showError(amountError, problem);
    if (problem) { amountInput.focus(); return; }
    outcome.hidden = true;
    setBusy(true, "Processing… ");
    try {
      await pay(amount);
    } catch (e) {
      showOutcome("error", ["Something went wrong.", "Please check your connection and try again. You were not charged twice."]);
    } finally {
      setBusy(false, "Pay ");
      refreshLabels();
    }
  });
  refreshLabels();
})();
