// The demo host page: sizes the panel's iframe and shows what the panel tells it. Messages are
// accepted only from the panel's origin.
(function () {
  "use strict";
  var root = document.getElementById("billing");
  var panelOrigin = root.dataset.panelOrigin;
  var frame = document.getElementById("payreq-panel");
  var log = document.getElementById("host-log");
  var dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  window.addEventListener("message", function (ev) {
    if (ev.origin !== panelOrigin || ev.source !== frame.contentWindow) return;
    var m = ev.data || {};
    if (m.type === "payreq.panel.height" && m.height > 0) frame.style.height = m.height + "px";
    if (m.type === "payment_request.sent") {
      var pr = m.payment_request || {};
      log.textContent = "The panel sent payment request " + pr.id + " for " + dollars.format(pr.amount_requested / 100) + ".";
      root.dataset.lastSent = pr.id;
    }
    if (m.type === "payreq.panel.session_expired") log.textContent = "The panel session expired; reload this page.";
  });
})();
