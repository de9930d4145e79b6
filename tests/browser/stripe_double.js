// TEST-ONLY stand-in for Stripe.js (never served in production): the pay page's Stripe.js
// URL is a setting, and the browser test points it here. A plain text field plays the card
// Element; createPaymentMethod answers with localstripe's test PaymentMethods.
window.Stripe = function (publishableKey) {
  var field = null;
  return {
    elements: function () {
      return {
        create: function () {
          var handlers = {};
          return {
            mount: function (selector) {
              field = document.createElement("input");
              field.type = "text";
              field.id = "test-card-number";
              field.setAttribute("aria-label", "Card number");
              field.setAttribute("inputmode", "numeric");
              field.value = "4242 4242 4242 4242";
              document.querySelector(selector).appendChild(field);
              field.addEventListener("input", function () { (handlers.change || function () {})({}); });
            },
            on: function (name, fn) { handlers[name] = fn; },
            clear: function () { if (field) field.value = "4242 4242 4242 4242"; },
          };
        },
      };
    },
    createPaymentMethod: async function () {
      var number = (field ? field.value : "").replace(/\s/g, "");
      var id = number === "4000000000000341" ? "pm_card_chargeCustomerFail" : "pm_card_visa";
      return { paymentMethod: { id: id } };
    },
    handleNextAction: async function () { return {}; },
  };
};
