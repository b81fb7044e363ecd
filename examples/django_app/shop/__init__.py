"""A minimal Django project with per-visitor Weespin identity (see settings.MIDDLEWARE)."""
