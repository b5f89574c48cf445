"""The built-in demo accounting system: a ledger behind a login (HTML) and a JSON API, for connector tests and demos.

``create_app(ledger, username=..., password=...)`` builds the FastAPI app, ``serve(app)`` runs it in a thread.
See docs/demo-erp.md.
"""

from demo.erp.app import create_app
from demo.erp.faults import DROP, Faults
from demo.erp.server import serve
from demo.erp.state import ErpState, Note

__all__ = ["DROP", "ErpState", "Faults", "Note", "create_app", "serve"]
