"""The ``metapaas hosts`` and ``metapaas pins`` command groups (:mod:`.hosts`, :mod:`.pins`)."""
