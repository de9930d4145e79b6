"""The dev stack and the stand-ins the tests share (never imported in production)."""
