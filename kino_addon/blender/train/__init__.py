"""Train a LoRA from the sequencer: settings (``props``), where the frames come from (``readers``),
the queued job (``train_job``), the operators (``ops``) and the Train LoRA sub-panel (``panel``)."""
