"""Stylize strips: the look and its settings (``props``), the panel part (``panel``), the operators
(``ops``), the queued job (``strip_job``), the result strip (``place``) and ``scripts/kino stylize``
(``command``)."""
