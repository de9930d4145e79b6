// Shared by the pay page and the staff panel: what a person types as an amount, turned into
// integer minor units without ever going through a float.
(function () {
  "use strict";
  // "12.5", "$1,200.00" -> minor units; null when it is not an amount.
  function parseMinor(text, precision) {
    var clean = (text || "").replace(/[\s,$]/g, "");
    var pattern = precision > 0 ? new RegExp("^(\\d+)(?:\\.(\\d{1," + precision + "}))?$") : /^(\d+)$/;
    var m = clean.match(pattern);
    if (!m) return null;
    var frac = (m[2] || "").padEnd(precision, "0");
    return parseInt(m[1], 10) * Math.pow(10, precision) + (frac ? parseInt(frac, 10) : 0);
  }
  window.PayreqAmounts = { parseMinor: parseMinor };
})();
