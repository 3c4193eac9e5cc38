"""A plugin module that cannot even be imported."""

raise RuntimeError("sample plugin fails at import")
