"""What keeps the server safe under load and bad input, beside the request handlers themselves:
admission of a message's buffers before they are read (``admission``), replies that always fit the
wire (``replies``), a capped and rate-limited log (``logs``), bounded model-folder scans off the
connection's request path (``scans``) and the memory of recently ended jobs (``ended``)."""
