"""The provider's routes: the pool's hosts (:mod:`.hosts`) and placement pins (:mod:`.pins`),
admins only, their request models in :mod:`.bodies`."""
