"""Development on one machine: `bin/run` uses these settings."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

# Off unless asked for (`DJANGO_DEBUG=1 bin/run`): Django's debug pages list every URL
# and setting to whoever gets a 404 or a 500; without them the site's own pages answer.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
