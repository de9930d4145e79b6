"""One router per resource; api/app.py lists each in ROUTERS."""
