// DEV STACK ONLY (payreq dev with localstripe): a stand-in for Stripe.js, never served by the
// API or in production. localstripe's own Stripe.js has an empty createPaymentMethod, so this
// one's "card Element" is a plain input and createPaymentMethod answers localstripe's test
// PaymentMethods: 4000 0000 0000 0002 is declined (pm_card_chargeCustomerFail), any other
// number pays (pm_card_visa).
window.Stripe = function () {
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
              field.id = "dev-card-number";
              field.setAttribute("aria-label", "Card number");
              field.setAttribute("inputmode", "numeric");
              field.setAttribute("autocomplete", "off");
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
      if (number.length < 12) return { error: { message: "Enter a card number (dev stand-in)." } };
      var id = number === "4000000000000002" ? "pm_card_chargeCustomerFail" : "pm_card_visa";
      return { paymentMethod: { id: id } };
    },
    handleNextAction: async function () { return {}; },
  };
};
