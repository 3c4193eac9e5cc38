"""Routes of the runtime itself; type routes are derived in ``typed_routes``."""
