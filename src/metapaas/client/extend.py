"""What a distribution's client routes use of the client: the call machinery, its one import.

A group of routes is a :class:`Group` subclass whose methods build a
:class:`Call` with :func:`call` (or :func:`no_answer` for a ``204``) and are
marked :func:`route`; :func:`segment` quotes a name put in a path. Bind the
group to a :class:`~metapaas.client.Client` or an
:class:`~metapaas.client.AsyncClient` (``Hosts(api).list()``) and each route
is typed for both, as the client's own groups are. Answers are
:class:`Answer` models (fields a newer server adds are kept), lists whole
:class:`Items`.
"""

from metapaas.client.calls import Call, Group, S, call, no_answer, route, segment
from metapaas.client.models import Answer, Items

__all__ = ["Answer", "Call", "Group", "Items", "S", "call", "no_answer", "route", "segment"]
