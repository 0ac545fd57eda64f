"""Green screen: the Keying compositor tree (``tree``, ``ops``), the panel's Green Screen switch
(``panel``), and ``scripts/kino composite``: inputs decoded (``decode``), stylized and composited by a
queued job (``composite_job``), run by ``command``."""
