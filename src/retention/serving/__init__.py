"""The HTTP API (FastAPI): the CRM's and the team's window on the scored list."""
