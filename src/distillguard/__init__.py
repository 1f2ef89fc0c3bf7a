"""distillguard."""
